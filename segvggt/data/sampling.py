"""Which frames (and at what size) one training sample of a scene uses.

- `sample_frame_window`: a random window of the sequence, then S evenly spaced frames with jitter.
- `strided_frames`: the deterministic validation choice.
- `frustum_overlap` / `select_fov_frames`: field-of-view-aware selection - keep frames whose
  instance points fall inside the reference camera's frustum, so the views of a sample share
  objects instead of being S unrelated glimpses of a large scene.
- `SampleKey` / `image_hw`: what the batch sampler asks the dataset for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from segvggt.geometry import project_to_pixels

PATCH = 14  # the network's patch size: H and W must be multiples of it


@dataclass(frozen=True)
class SampleKey:
    """One request to the dataset: scene `scene`, S = `frames` views at `height` x `width`.

    `seed` makes the sample reproducible (frame choice, crop, jitter) whichever worker loads it.
    """

    scene: int
    frames: int
    height: int
    width: int
    seed: int
    train: bool = True


def image_hw(long_edge: int, aspect: float, patch: int = PATCH) -> tuple[int, int]:
    """(H, W) with W = long_edge and H ~ aspect * W (aspect = H / W in (0, 1]), both multiples of `patch`."""
    width = max(patch, (long_edge // patch) * patch)
    height = int(np.clip(np.floor(aspect * width / patch + 0.5), 1, width // patch)) * patch
    return height, width


def _round(x: np.ndarray) -> np.ndarray:
    # floor(x + 0.5) is monotone with floor(x + 1.5) = floor(x + 0.5) + 1 (np.round's half-to-even is not)
    return np.floor(x + 0.5).astype(np.int64)


def sample_frame_window(
    num_available: int, num_frames: int, rng: np.random.Generator, max_gap: int = 4, jitter: float = 1.0
) -> np.ndarray:
    """S = `num_frames` frame indices [S] in capture order.

    A window of L consecutive frames (S <= L <= S * max_gap) is placed at random, and S frames are
    spread evenly over it, each moved by up to `jitter` * half the free space between neighbours,
    so indices stay strictly increasing and inside the window. With fewer frames available than
    S, every frame is used and random ones repeat (a scene cannot offer more distinct views).
    """
    T, S = int(num_available), int(num_frames)
    if T < 1 or S < 1:
        raise ValueError(f"need at least one frame available and requested, got {T} and {S}")
    if T <= S:
        return np.sort(np.concatenate([np.arange(T), rng.integers(0, T, size=S - T)])).astype(np.int64)
    span = int(rng.integers(S, min(T, S * max_gap) + 1))
    start = int(rng.integers(0, T - span + 1))
    if S == 1:
        return np.array([start + int(rng.integers(span))], dtype=np.int64)
    step = (span - 1) / (S - 1)
    shift = rng.uniform(-1.0, 1.0, size=S) * jitter * (step - 1.0) / 2.0
    shift[0], shift[-1] = abs(shift[0]), -abs(shift[-1])  # the ends stay inside the window
    return _round(start + step * np.arange(S) + shift)


def evaluation_frame_count(num_available: int, stride: int, max_frames: int) -> int:
    """Frames of one scene at evaluation (and validation): every `stride`-th frame of the whole
    sequence, at most `max_frames` of them (0 = no cap), at least 1."""
    frames = max(1, -(-int(num_available) // int(stride)))
    return min(frames, int(max_frames)) if max_frames > 0 else frames


def strided_frames(num_available: int, num_frames: int, stride: int) -> np.ndarray:
    """Deterministic frames [S]: 0, stride, 2 stride, ...; spread evenly over the whole sequence
    when it is too short for the stride, and repeated when it has fewer than S frames."""
    T, S = int(num_available), int(num_frames)
    if (S - 1) * stride < T:
        return np.arange(S, dtype=np.int64) * stride
    if T >= S:
        return _round(np.linspace(0, T - 1, S))
    return np.sort(np.arange(S) % T).astype(np.int64)


def frustum_overlap(
    points_world: np.ndarray | torch.Tensor,
    cam_from_world: np.ndarray | torch.Tensor,
    intrinsics: np.ndarray | torch.Tensor,
    hw: tuple[int, int],
) -> float:
    """Share of points [M, 3] that land inside the image of a camera (cam_from_world [3, 4],
    intrinsics [3, 3], image (H, W)) in front of it; 0.0 for M = 0. Occlusion is not checked."""
    p = torch.as_tensor(points_world, dtype=torch.float64).reshape(-1, 3)
    if p.shape[0] == 0:
        return 0.0
    E = torch.as_tensor(cam_from_world, dtype=torch.float64)
    K = torch.as_tensor(intrinsics, dtype=torch.float64)
    uv, z = project_to_pixels(p, E, K)
    H, W = hw
    # pixel centres sit at integer coordinates, so the image covers [-0.5, W - 0.5) x [-0.5, H - 0.5)
    inside = (z > 1e-6) & (uv[:, 0] >= -0.5) & (uv[:, 0] < W - 0.5) & (uv[:, 1] >= -0.5) & (uv[:, 1] < H - 0.5)
    return float(inside.double().mean())


def select_fov_frames(
    reference: int, overlaps: np.ndarray, candidates: np.ndarray, num_frames: int, threshold: float,
    rng: np.random.Generator,
) -> np.ndarray:  # fmt: skip
    """Frames [S] for a field-of-view-aware sample: the reference first, then S - 1 others in
    capture order, taken from the candidates [F] whose overlap [F] (share of their instance
    points inside the reference frustum) is >= threshold, spread evenly over them; if too few
    pass, the best-overlapping remaining candidates fill up (repeating frames only if F < S)."""
    others = candidates != reference
    cand, over = candidates[others], overlaps[others]
    need = num_frames - 1
    if need == 0:
        return np.array([reference], dtype=np.int64)
    keep = cand[over >= threshold]
    if len(keep) >= need:
        chosen = keep[sample_frame_window(len(keep), need, rng, max_gap=max(1, len(keep)))]
    else:
        rest = cand[over < threshold][np.argsort(-over[over < threshold], kind="stable")]
        chosen = np.concatenate([keep, rest[: need - len(keep)]])
        if len(chosen) < need:  # the scene has fewer than S frames: repeat
            pool = np.concatenate([chosen, [reference]]).astype(np.int64)
            chosen = np.concatenate([chosen, pool[rng.integers(0, len(pool), size=need - len(chosen))]])
    return np.concatenate([[reference], np.sort(chosen)]).astype(np.int64)
