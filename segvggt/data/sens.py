"""ScanNet RGB-D frame sources: the `.sens` stream and a SensReader export folder, behind one interface.

`.sens` layout, checked against ScanNet `SensReader/python/SensorData.py` (`SensorData.load`,
`RGBDFrame.load`) and `SensReader/README.md` (struct SensorData), all little-endian:
  header: version uint32 (= 4), sensor name (uint64 length + bytes), color intrinsic, color
  extrinsic, depth intrinsic, depth extrinsic (4x4 float32 each, row-major), color compression
  int32 (-1 unknown, 0 raw, 1 png, 2 jpeg), depth compression int32 (-1 unknown, 0 raw_ushort,
  1 zlib_ushort, 2 occi_ushort), color width, color height, depth width, depth height (uint32),
  depth shift float32 (mm -> m: 1000), number of frames uint64;
  per frame: camera_to_world 4x4 float32, timestamp color uint64, timestamp depth uint64,
  color size uint64, depth size uint64, color bytes, depth bytes (zlib of uint16 [h, w]).
(IMU frames may follow the RGB-D frames; they are not read.)
Export folder (`reader.py` / `SensorData.export_*`): `color/<i>.jpg`, `depth/<i>.png` (uint16,
depth shift 1000), `pose/<i>.txt` (4x4 camera-to-world), `intrinsic/intrinsic_color.txt`,
`intrinsic/intrinsic_depth.txt` (4x4), with `i` the frame index.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from segvggt.data.errors import DataError

SENS_VERSION = 4
_COLOR_CODECS = {0: "raw", 1: "png", 2: "jpeg"}
_DEPTH_CODECS = {0: "raw_ushort", 1: "zlib_ushort"}


@dataclass(frozen=True)
class _SensFrame:
    camera_to_world: np.ndarray  # [4, 4]
    color_offset: int
    color_size: int
    depth_offset: int
    depth_size: int


def _decode_image(data: bytes, what: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return np.asarray(im)
    except (OSError, ValueError) as err:
        raise DataError(f"unreadable {what} ({err}); the file is corrupt, re-download it") from err


class SensFile:
    """Random access to the frames of a ScanNet `.sens` file (header and frame index read once)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"missing {self.path}; download the scene's .sens or export its frames")
        size = self.path.stat().st_size
        try:
            with open(self.path, "rb") as f:
                self._read_header(f)
                self._frames = self._index_frames(f, size)
        except struct.error as err:
            raise DataError(f"{self.path} is truncated ({err}); re-download the .sens file") from err

    def _read_header(self, f) -> None:
        (version,) = struct.unpack("<I", f.read(4))
        if version != SENS_VERSION:
            raise DataError(
                f"{self.path} has .sens version {version}, expected {SENS_VERSION}; "
                "this is not a ScanNet v2 .sens file (or it is corrupt)"
            )
        (strlen,) = struct.unpack("<Q", f.read(8))
        if strlen > 1 << 16:
            raise DataError(f"{self.path}: sensor name length {strlen} is implausible; the file is corrupt")
        self.sensor_name = f.read(strlen).decode("utf-8", errors="replace")
        mats = np.frombuffer(f.read(4 * 64), dtype="<f4").reshape(4, 4, 4).astype(np.float64)
        if mats.shape[0] != 4:
            raise struct.error("header ends inside the calibration matrices")
        self.color_intrinsic4, self.color_extrinsic, self.depth_intrinsic4, self.depth_extrinsic = mats
        color_codec, depth_codec = struct.unpack("<ii", f.read(8))
        self.color_width, self.color_height, self.depth_width, self.depth_height = struct.unpack("<4I", f.read(16))
        (self.depth_shift,) = struct.unpack("<f", f.read(4))
        (self.num_frames_declared,) = struct.unpack("<Q", f.read(8))
        if color_codec not in _COLOR_CODECS or depth_codec not in _DEPTH_CODECS:
            raise DataError(
                f"{self.path}: unsupported compression (color {color_codec}, depth {depth_codec}); "
                "supported: color raw/png/jpeg, depth raw_ushort/zlib_ushort"
            )
        self.color_codec, self.depth_codec = _COLOR_CODECS[color_codec], _DEPTH_CODECS[depth_codec]
        if self.depth_shift <= 0 or not np.isfinite(self.depth_shift):
            raise DataError(f"{self.path}: depth shift {self.depth_shift} is invalid")

    def _index_frames(self, f, size: int) -> list[_SensFrame]:
        frames = []
        for i in range(self.num_frames_declared):
            head = f.read(64 + 32)
            if len(head) < 96:
                raise DataError(
                    f"{self.path} declares {self.num_frames_declared} frames but ends in frame {i}; "
                    "the file is truncated, re-download it"
                )
            pose = np.frombuffer(head[:64], dtype="<f4").reshape(4, 4).astype(np.float64)
            _, _, csize, dsize = struct.unpack("<4Q", head[64:])
            coff = f.tell()
            doff = coff + csize
            if doff + dsize > size:
                raise DataError(f"{self.path}: frame {i} runs past the end of the file; re-download it")
            frames.append(_SensFrame(pose, coff, csize, doff, dsize))
            f.seek(doff + dsize)
        return frames

    # -- the frame-source interface -------------------------------------------------------------
    @property
    def frame_ids(self) -> list[int]:
        return list(range(len(self._frames)))

    @property
    def color_intrinsics(self) -> np.ndarray:
        """[3, 3] of the colour images."""
        return self.color_intrinsic4[:3, :3].copy()

    @property
    def depth_intrinsics(self) -> np.ndarray:
        """[3, 3] of the depth images."""
        return self.depth_intrinsic4[:3, :3].copy()

    def camera_to_world(self, i: int) -> np.ndarray:
        """[4, 4] as stored (may hold -inf / NaN)."""
        return self._frames[i].camera_to_world.copy()

    def _bytes(self, offset: int, n: int) -> bytes:
        with open(self.path, "rb") as f:
            f.seek(offset)
            return f.read(n)

    def color(self, i: int) -> np.ndarray:
        """[h, w, 3] uint8."""
        fr = self._frames[i]
        if fr.color_size == 0:
            raise DataError(f"{self.path}: frame {i} has no colour data")
        data = self._bytes(fr.color_offset, fr.color_size)
        if self.color_codec == "raw":
            img = np.frombuffer(data, np.uint8)
            if img.size != self.color_height * self.color_width * 3:
                raise DataError(f"{self.path}: raw colour of frame {i} has the wrong size")
            return img.reshape(self.color_height, self.color_width, 3)
        img = _decode_image(data, f"colour of frame {i} in {self.path}")
        return img[..., :3] if img.ndim == 3 else np.repeat(img[..., None], 3, axis=-1)

    def depth(self, i: int) -> np.ndarray:
        """[h, w] float32 metres, 0 = invalid."""
        fr = self._frames[i]
        if fr.depth_size == 0:
            raise DataError(f"{self.path}: frame {i} has no depth data")
        data = self._bytes(fr.depth_offset, fr.depth_size)
        if self.depth_codec == "zlib_ushort":
            try:
                data = zlib.decompress(data)
            except zlib.error as err:
                raise DataError(f"{self.path}: depth of frame {i} does not decompress ({err})") from err
        if len(data) != 2 * self.depth_width * self.depth_height:
            raise DataError(
                f"{self.path}: depth of frame {i} has {len(data)} bytes, expected "
                f"{2 * self.depth_width * self.depth_height} for {self.depth_width}x{self.depth_height} uint16"
            )
        raw = np.frombuffer(data, dtype="<u2").reshape(self.depth_height, self.depth_width)
        return raw.astype(np.float32) / np.float32(self.depth_shift)


def _read_matrix(path: Path) -> np.ndarray:
    try:
        m = np.loadtxt(path, dtype=np.float64)
    except (OSError, ValueError) as err:
        raise DataError(f"unreadable matrix file {path} ({err}); re-export the frames") from err
    if m.shape not in ((4, 4), (3, 3)):
        raise DataError(f"{path} holds a {m.shape} matrix, expected 4x4")
    return m


def _int_stems(folder: Path, suffixes: tuple[str, ...]) -> dict[int, Path]:
    out = {}
    for p in folder.iterdir() if folder.is_dir() else ():
        if p.suffix.lower() in suffixes and p.stem.lstrip("-").isdigit():
            out[int(p.stem)] = p
    return out


class ExportFolder:
    """Frames exported by ScanNet's SensReader (`color/`, `depth/`, `pose/`, `intrinsic/`)."""

    def __init__(self, root: str | Path, depth_shift: float = 1000.0):
        self.root = Path(root)
        self.depth_shift = depth_shift
        self._color = _int_stems(self.root / "color", (".jpg", ".jpeg", ".png"))
        self._depth = _int_stems(self.root / "depth", (".png",))
        self._pose = _int_stems(self.root / "pose", (".txt",))
        if not self._color:
            raise DataError(f"export folder {self.root} has no color/<i>.jpg images")
        if set(self._color) != set(self._depth):
            only_c = sorted(set(self._color) - set(self._depth))[:5]
            only_d = sorted(set(self._depth) - set(self._color))[:5]
            raise DataError(
                f"export folder {self.root}: {len(self._color)} colour vs {len(self._depth)} depth images "
                f"(colour only: {only_c}, depth only: {only_d}); re-export the frames"
            )
        missing = sorted(set(self._color) - set(self._pose))
        if missing:
            raise DataError(f"export folder {self.root}: no pose/<i>.txt for frames {missing[:5]}; re-export")
        self._K = {}
        for name in ("color", "depth"):
            p = next((q for q in (self.root / "intrinsic" / f"intrinsic_{name}.txt", self.root / f"intrinsic_{name}.txt")
                      if q.is_file()), None)  # fmt: skip
            if p is None:
                raise DataError(f"export folder {self.root}: missing intrinsic/intrinsic_{name}.txt; re-export")
            self._K[name] = _read_matrix(p)[:3, :3]

    @staticmethod
    def looks_like(root: Path) -> bool:
        return (root / "color").is_dir() and (root / "depth").is_dir() and (root / "pose").is_dir()

    @property
    def frame_ids(self) -> list[int]:
        return sorted(self._color)

    @property
    def color_intrinsics(self) -> np.ndarray:
        return self._K["color"].copy()

    @property
    def depth_intrinsics(self) -> np.ndarray:
        return self._K["depth"].copy()

    def camera_to_world(self, i: int) -> np.ndarray:
        m = _read_matrix(self._pose[i])
        if m.shape != (4, 4):
            raise DataError(f"{self._pose[i]} is not a 4x4 pose")
        return m

    def color(self, i: int) -> np.ndarray:
        img = _decode_image(self._color[i].read_bytes(), f"colour image {self._color[i]}")
        return img[..., :3] if img.ndim == 3 else np.repeat(img[..., None], 3, axis=-1)

    def depth(self, i: int) -> np.ndarray:
        img = _decode_image(self._depth[i].read_bytes(), f"depth image {self._depth[i]}")
        if img.ndim != 2:
            raise DataError(f"depth image {self._depth[i]} is not single-channel uint16")
        return img.astype(np.float32) / np.float32(self.depth_shift)
