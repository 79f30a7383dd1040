"""Instance-segmentation submissions in the official ScanNet / ScanNet++ format, and GT files.

Layout (one scene):
    <pred_dir>/<scene>.txt                  lines `pred_mask/<scene>_<k>.txt <label id> <confidence>`
    <pred_dir>/pred_mask/<scene>_<k>.txt    one 0/1 per benchmark point (mesh vertex)
ScanNet++ mask files hold RLE JSON `{"length": M, "counts": "s1 n1 s2 n2 ..."}` (1-based starts,
run lengths). GT: `<gt_dir>/<scene>.txt`, one `label_id * 1000 + instance_id` per point.

Reading follows the official reader (lines split on single spaces into exactly three fields,
label `int(float(x))`, confidence `float`, mask paths relative and inside the prediction folder,
file-line order kept) but refuses what it would silently accept or crash on, naming file and line:
blank lines (a 0-byte file is a valid empty prediction; a lone newline is a blank line), missing
mask files, wrong mask lengths, NaN / inf confidences, label ids beyond 32 bits (e.g. `1e30`), and a
mask file listed twice. Prediction files and mask files must really lie inside the prediction folder:
a symlink leading out of it is refused before it is read, and so is anything that is not a regular
file (a pipe would block the reader). Error messages quote no file contents beyond a short field of
the scene's own `<scene>.txt` (a mask, GT or excluded-vertex file is described, never quoted).
Predictions whose label is not an evaluated class are ignored, as by the official script;
`evaluate_submission` logs one warning with their count.

Speed: the common files are parsed on their bytes with numpy (GT files of plain digit lines, masks
of exactly "0\n"/"1\n" lines); anything else goes through the general line parser, so values
and errors are the same either way.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segvggt.atomic import atomic_write_bytes
from segvggt.data.errors import DataError
from segvggt.validation import check_really_inside
from segvggt.evaluation.instance_ap import (
    InstanceAPResult, SceneEval, _as_numpy, evaluate_instances, evaluation_classes,
)  # fmt: skip

logger = logging.getLogger(__name__)

OFFICIAL_RESULT_FILE = "semantic_instance_evaluation.txt"  # the official evaluator skips this name
MASK_SUBDIR = "pred_mask"


@dataclass(frozen=True)
class ScenePrediction:
    """masks [I, M] bool, labels [I] int64, scores [I] float64, in file-line order."""

    masks: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    mask_files: tuple[str, ...] = ()


def rle_encode(mask: np.ndarray) -> dict:
    """[M] bool -> ScanNet++ RLE `{"length": M, "counts": "start length ..."}` (1-based starts)."""
    mask = np.asarray(mask, bool).reshape(-1)
    change = np.flatnonzero(np.diff(np.concatenate([[False], mask, [False]]).astype(np.int8)))
    starts, ends = change[0::2], change[1::2]
    runs = np.stack([starts + 1, ends - starts], axis=1).reshape(-1)
    return {"length": int(len(mask)), "counts": " ".join(map(str, runs.tolist()))}


def rle_decode(rle: Any, where: str = "RLE mask") -> np.ndarray:
    """ScanNet++ RLE dict -> [M] bool; malformed input raises DataError naming `where`."""
    if not isinstance(rle, dict) or not isinstance(rle.get("length"), int) or not isinstance(
        rle.get("counts"), str
    ):
        raise DataError(f"{where}: expected RLE JSON {{\"length\": int, \"counts\": \"s1 n1 ...\"}}")
    length = rle["length"]
    try:
        runs = np.asarray([int(x) for x in rle["counts"].split()], np.int64)
    except (ValueError, OverflowError):
        raise DataError(f"{where}: RLE counts must be integers") from None
    if len(runs) % 2:
        raise DataError(f"{where}: RLE counts must be start/length pairs, got an odd count")
    starts, lengths = runs[0::2] - 1, runs[1::2]
    if len(runs) and (starts.min() < 0 or lengths.min() < 0 or (starts + lengths).max() > length):
        raise DataError(f"{where}: RLE run outside [1, {length}] (starts are 1-based)")
    delta = np.bincount(starts, minlength=length + 1) - np.bincount(starts + lengths, minlength=length + 1)
    return np.cumsum(delta[:length]) > 0


def _parse_int_lines(text: str, where: str) -> np.ndarray:
    lines = text.splitlines()
    try:
        return np.array(lines, dtype=np.int64).reshape(-1)
    except (ValueError, OverflowError):
        for n, line in enumerate(lines, 1):
            try:
                value = int(line)
            except ValueError:
                what = "a blank line" if not line.strip() else "text that is not an integer"
                raise DataError(f"{where}:{n}: expected one integer per line, got {what}") from None
            if not -(2**63) <= value < 2**63:
                raise DataError(f"{where}:{n}: the value does not fit in a 64-bit integer") from None
        raise


def _parse_digit_lines(data: bytes) -> np.ndarray | None:
    """[L] int64 from a file of unsigned decimal lines, parsed on the bytes; None (use the general
    parser) unless every byte is a digit or b"\\n", no line is blank and none exceeds 18 digits --
    exactly the files on which the general parser cannot fail and gives the same values.

    Python's int() per line costs ~0.2 us; here each digit position is one gather over all lines.
    """
    raw = np.frombuffer(data, np.uint8)
    if not len(raw):
        return np.zeros(0, np.int64)
    newline = raw == 10
    if not ((raw - np.uint8(48) < 10) | newline).all():
        return None
    ends = np.flatnonzero(newline)  # one past each line's last digit
    if not newline[-1]:
        ends = np.append(ends, len(raw))  # last line without b"\\n"
    lengths = np.diff(ends, prepend=-1) - 1
    if lengths.min() < 1 or lengths.max() > 18:
        return None
    value = np.zeros(len(ends), np.int64)
    for j in range(int(lengths.max())):  # j-th digit from the right of every line
        digit = raw[ends - 1 - j].astype(np.int64) - 48
        if j:
            digit[lengths <= j] = 0  # shorter lines: that byte belongs to the previous line
        value += digit * 10**j
    return value


def read_gt(gt_file: str | Path) -> np.ndarray:
    """[M] int64 `label_id * 1000 + instance_id` per point from an official GT txt file."""
    path = Path(gt_file)
    if not path.is_file():
        raise DataError(f"GT file {path} does not exist")
    data = path.read_bytes()
    ids = _parse_digit_lines(data)
    if ids is not None:
        return ids
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path}: GT file is not UTF-8 text") from None
    return _parse_int_lines(text, str(path))


def read_excluded_vertices(path: str | Path) -> np.ndarray:
    """Vertex indices excluded from evaluation (ScanNet++ `mesh_aligned_0.05_mask.txt`), [X] int64."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"excluded-vertex file {path} does not exist")
    try:
        return np.asarray([int(x) for x in path.read_text().split()], np.int64)
    except (ValueError, OverflowError, UnicodeDecodeError):
        raise DataError(f"{path}: expected whitespace-separated vertex indices (64-bit integers)") from None


def _read_mask(path: Path, num_points: int, where: str) -> np.ndarray:
    """[M] bool from any mask file: RLE JSON or one integer per line (non-zero = inside)."""
    data = path.read_bytes()
    if data[:1] == b"{" or data.lstrip()[:1] == b"{":
        try:
            rle = json.loads(data)
        except ValueError as e:
            raise DataError(f"{path}: not valid RLE JSON ({e})") from None
        mask = rle_decode(rle, str(path))
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise DataError(f"{path}: mask file is not text") from None
        mask = _parse_int_lines(text, str(path)) != 0
    if len(mask) != num_points:
        raise DataError(
            f"{path} ({where}): mask has {len(mask)} values but the GT scene has {num_points} points"
        )
    return mask


# b"0\n" read as a little-endian uint16 (b"1\n" is this + 1): a text mask as written by
# `write_submission` is then one uint16 per point, checked and converted in two vector passes.
_ZERO_LINE = 0x0A30


def _read_mask_into(path: str, out: np.ndarray, scratch: np.ndarray, where: str) -> None:
    """Fill out [M] bool with the mask file at `path`; scratch: '<u2' [M + 1] reusable buffer.

    One read into `scratch` (one word longer than needed, so the byte count tells "exactly 2M
    bytes"); if every word is b"0\\n" or b"1\\n" the mask is done, otherwise the general reader
    (RLE JSON, any integers, missing final newline, clear errors) reads the file again.
    """
    num_points = len(out)
    try:
        with open(path, "rb", buffering=0) as f:
            size = f.readinto(scratch)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise DataError(f"{where}: mask file {path} does not exist") from None
    if size == 2 * num_points:
        words = scratch[:num_points]
        np.bitwise_xor(words, _ZERO_LINE, out=words)  # 0 / 1 for the two valid lines
        if words.max(initial=0) <= 1:
            np.not_equal(words, 0, out=out)
            return
    out[:] = _read_mask(Path(path), num_points, where)


def _field(text: str, limit: int = 40) -> str:
    """A short quoted field of a prediction file for an error message (never a whole line)."""
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


def read_submission(pred_dir: str | Path, scene_id: str, num_points: int) -> ScenePrediction:
    """Read `<pred_dir>/<scene_id>.txt` and its masks (text 0/1 or RLE JSON, detected per file).

    num_points: M, the GT point count every mask must have. Returns masks [I, M] in line order.
    """
    root = Path(pred_dir)
    txt = root / f"{scene_id}.txt"
    check_really_inside(txt, root, "prediction folder", f"prediction file {txt}")
    if not txt.is_file():
        raise DataError(f"prediction file {txt} does not exist")
    try:
        lines = txt.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise DataError(f"{txt}: prediction file is not UTF-8 text") from None
    abs_root = os.path.abspath(root)
    inside = abs_root.rstrip(os.sep) + os.sep  # abspath-normalised: a string prefix = commonpath
    txt_dir = os.path.dirname(txt)
    masks = np.empty((len(lines), num_points), bool)
    scratch = np.empty(num_points + 1, "<u2")
    labels, scores, files, seen = [], [], [], {}
    for n, line in enumerate(lines, 1):
        where = f"{txt}:{n}"
        parts = line.split(" ")
        if len(parts) != 3:
            raise DataError(
                f"{where}: expected '<relative mask path> <label id> <confidence>' separated by "
                f"single spaces, got {'a blank line' if not line.strip() else f'{len(parts)} field(s)'}"
            )
        rel, label_text, conf_text = parts
        if os.path.isabs(rel):
            raise DataError(f"{where}: mask path {rel!r} must be relative to the prediction file")
        mask_path = os.path.abspath(os.path.join(txt_dir, rel))
        if not mask_path.startswith(inside) and mask_path != abs_root:
            raise DataError(f"{where}: mask path {_field(rel)} points outside the prediction folder {root}")
        check_really_inside(mask_path, root, "prediction folder", f"{where}: mask file {_field(rel)}")
        try:
            label = int(float(label_text))
        except (ValueError, OverflowError):
            raise DataError(f"{where}: label id {_field(label_text)} is not a number") from None
        if not -(2**31) <= label < 2**31:
            raise DataError(f"{where}: label id {_field(label_text)} is out of range; label ids are small whole numbers "
                            "of the benchmark's label table")  # fmt: skip
        try:
            conf = float(conf_text)
        except ValueError:
            raise DataError(f"{where}: confidence {_field(conf_text)} is not a number") from None
        if np.isnan(conf):
            raise DataError(f"{where}: confidence is NaN")
        if np.isinf(conf):
            raise DataError(f"{where}: confidence is infinite; give a finite score")
        if mask_path in seen:
            raise DataError(f"{where}: mask file {rel!r} is already listed on line {seen[mask_path]}")
        seen[mask_path] = n
        _read_mask_into(mask_path, masks[n - 1], scratch, where)
        labels.append(label)
        scores.append(conf)
        files.append(rel)
    return ScenePrediction(masks, np.asarray(labels, np.int64), np.asarray(scores, np.float64), tuple(files))


def write_submission(
    pred_dir: str | Path,
    scene_id: str,
    masks: Any,
    labels: Any,
    scores: Any,
    rle: bool = False,
) -> Path:
    """Write one scene in the official format; returns the `<scene>.txt` path.

    masks [I, M] bool (numpy or torch), labels [I] benchmark label ids, scores [I]. Mask files are
    written first and the scene txt last, each via a temporary name and a rename, so a scene txt
    never points at a missing or half-written mask. `rle=True` writes ScanNet++ RLE JSON masks.
    """
    masks = _as_numpy(masks)
    if masks.size == 0 and masks.ndim < 2:
        masks = masks.reshape(0, 0)
    labels = _as_numpy(labels).reshape(-1)
    scores = _as_numpy(scores).reshape(-1).astype(np.float64)
    if masks.ndim != 2 or len(labels) != len(masks) or len(scores) != len(masks):
        raise ValueError(
            f"{scene_id}: need masks [I, M], labels [I], scores [I]; got {masks.shape}, "
            f"{labels.shape}, {scores.shape}"
        )
    if not np.isfinite(scores).all():
        raise ValueError(f"{scene_id}: scores must be finite")
    root = Path(pred_dir)
    (root / MASK_SUBDIR).mkdir(parents=True, exist_ok=True)
    lines = []
    for k, mask in enumerate(masks != 0):
        rel = f"{MASK_SUBDIR}/{scene_id}_{k:03d}.{'json' if rle else 'txt'}"
        if rle:
            data = json.dumps(rle_encode(mask)).encode()
        else:
            buf = np.full((len(mask), 2), ord("\n"), np.uint8)
            buf[:, 0] = ord("0") + mask
            data = buf.tobytes()
        atomic_write_bytes(root / rel, data)
        lines.append(f"{rel} {int(labels[k])} {float(scores[k])!r}\n")
    txt = root / f"{scene_id}.txt"
    atomic_write_bytes(txt, "".join(lines).encode())
    return txt


def _scene_files(gt_dir: Path, pred_dir: Path, missing_as_empty: bool) -> tuple[list[str], set[str]]:
    if not gt_dir.is_dir():
        raise DataError(f"GT folder {gt_dir} does not exist")
    if not pred_dir.is_dir():
        raise DataError(f"prediction folder {pred_dir} does not exist")
    scenes = sorted(p.stem for p in gt_dir.glob("*.txt") if p.is_file())
    if not scenes:
        raise DataError(f"GT folder {gt_dir} holds no <scene>.txt files")
    preds = {
        p.stem for p in pred_dir.glob("*.txt") if p.is_file() and p.name != OFFICIAL_RESULT_FILE
    }
    extra = sorted(preds - set(scenes))
    if extra:
        raise DataError(
            f"{len(extra)} prediction file(s) in {pred_dir} have no GT file in {gt_dir}: "
            f"{', '.join(extra[:10])}{' ...' if len(extra) > 10 else ''}"
        )
    missing = [s for s in scenes if s not in preds]
    if missing and not missing_as_empty:
        raise DataError(
            f"{len(missing)} GT scene(s) have no prediction file in {pred_dir}: "
            f"{', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''} "
            "(write an empty <scene>.txt, or pass missing_as_empty / --missing-as-empty to count "
            "all their objects as misses)"
        )
    return scenes, preds


def evaluate_submission(
    gt_dir: str | Path,
    pred_dir: str | Path,
    classes: Any,
    *,
    class_agnostic: bool = False,
    missing_as_empty: bool = False,
    excluded_pattern: str | None = None,
    progress: bool = False,
) -> InstanceAPResult:
    """Evaluate a submission folder against a GT folder; the scene list is the GT folder's.

    classes: benchmark name ("scannet", "scannet200", "scannetpp", "synthetic") or BenchmarkClasses.
    excluded_pattern: per-scene excluded-vertex file, `{scene}` is replaced by the scene id
        (ScanNet++: ".../data/{scene}/scans/mesh_aligned_0.05_mask.txt").
    Scenes are read one at a time, so memory holds one scene's masks.
    """
    if isinstance(classes, str):
        from segvggt.data.classes import benchmark_classes

        classes = benchmark_classes(classes)
    gt_root, pred_root = Path(gt_dir), Path(pred_dir)
    scenes, preds = _scene_files(gt_root, pred_root, missing_as_empty)
    evaluated = np.asarray(evaluation_classes(classes)[0], np.int64)
    ignored: dict[str, int] = {}  # scene -> predictions whose label is not an evaluated class
    examples: set[int] = set()

    def scene_stream() -> Iterator[SceneEval]:
        from tqdm import tqdm

        for scene in tqdm(scenes, desc="evaluating scenes", unit="scene", disable=not progress):
            gt = read_gt(gt_root / f"{scene}.txt")
            if scene in preds:
                p = read_submission(pred_root, scene, len(gt))
                outside = ~np.isin(p.labels, evaluated)
                if outside.any():
                    ignored[scene] = int(outside.sum())
                    examples.update(p.labels[outside][:3].tolist())
            else:
                p = ScenePrediction(np.zeros((0, len(gt)), bool), np.zeros(0, np.int64), np.zeros(0))
            excluded = None
            if excluded_pattern:
                excluded = read_excluded_vertices(excluded_pattern.replace("{scene}", scene))
                if len(excluded) and (excluded.min() < 0 or excluded.max() >= len(gt)):
                    raise DataError(f"{excluded_pattern.replace('{scene}', scene)}: vertex index "
                                    f"outside [0, {len(gt)}) of GT scene {scene}")  # fmt: skip
            yield SceneEval(gt, p.masks, p.labels, p.scores, scene_id=scene, excluded=excluded)

    result = evaluate_instances(scene_stream(), classes, class_agnostic=class_agnostic)
    if ignored:
        name = getattr(classes, "name", "the given classes")
        logger.warning(
            "%d predicted instance(s) in %d scene(s) have label ids that are not evaluated classes of %s (e.g. %s); "
            "they are ignored, as by the official script", sum(ignored.values()), len(ignored), name,
            ", ".join(str(v) for v in sorted(examples)[:3]),
        )  # fmt: skip
    return result
