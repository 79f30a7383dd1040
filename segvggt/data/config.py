"""DataConfig: everything that decides which training samples the model sees."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """Prepared data, frame sampling, image size and batching.

    Image size: the long edge is `image_size` (a multiple of 14); each training batch draws an
    aspect ratio H/W in `aspect_range` unless `fixed_aspect` is set (synthetic data: its stored
    aspect). Validation uses `val_aspect` (or `fixed_aspect`) and selects frames exactly like
    tools/eval.py: every `val_frame_stride`-th frame from the start of each scene, at most
    `val_frames` of them (0 = all), so scenes of different lengths get different S
    (`sampling.evaluation_frame_count`). `SceneDataModule.for_experiment` takes both from the
    experiment's `eval` section, so validation during training sees what evaluation sees.
    """

    root: str = "data/synthetic"
    benchmark: str = "synthetic"
    train_split: str = "train"
    val_split: str = "val"
    # frames per scene S, drawn per batch in [min_frames, max_frames] (VGGT's dynamic batching)
    min_frames: int = 2
    max_frames: int = 8
    max_images_per_batch: int = 48  # B = max(1, max_images_per_batch // S)
    max_frame_gap: int = 4  # a training window spans at most S * max_frame_gap consecutive frames
    image_size: int = 112  # long edge in pixels (518 for real data)
    aspect_range: tuple[float, float] = (0.33, 1.0)  # H / W
    fixed_aspect: float | None = None
    val_aspect: float = 0.75
    color_jitter: float = 0.2  # strength of brightness / contrast / saturation jitter (train only); 0 = off
    random_crop: bool = True  # train crops at a random offset, validation in the centre
    fov_sampling_prob: float = 0.0  # probability of field-of-view-aware frame selection per sample
    fov_threshold: float = 0.25  # minimum share of a frame's instance points inside the reference frustum
    num_workers: int = 0
    seed: int = 0
    skip_bad_scenes: bool = False  # True: log and count bad scenes and use another; False: raise DataError
    val_frames: int = 8  # at most this many frames per validation scene; 0 = every frame at the stride
    val_frame_stride: int = 1
    # synthetic generation, used when benchmark == "synthetic" and root holds no data yet
    synthetic_num_train: int = 200
    synthetic_num_val: int = 20
    synthetic_width: int = 112
    synthetic_height: int = 84
    synthetic_frames: int = 10
    synthetic_workers: int = 1
    synthetic_trajectory: str = "orbit"  # "orbit" | "sweep" (segvggt/data/synthetic.py)
    synthetic_sweep_degrees: tuple[float, float] = (90.0, 150.0)
    synthetic_walls: str = "uniform"  # "uniform" | "distinct" (segvggt/data/synthetic.py)

    def __post_init__(self) -> None:
        if not 1 <= self.min_frames <= self.max_frames:
            raise ValueError(f"need 1 <= min_frames <= max_frames, got {self.min_frames}, {self.max_frames}")
        if self.image_size < 14 or self.image_size % 14:
            raise ValueError(f"image_size must be a positive multiple of 14 (the patch size), got {self.image_size}")
        lo, hi = self.aspect_range
        if not 0 < lo <= hi:
            raise ValueError(f"aspect_range must satisfy 0 < low <= high, got {self.aspect_range}")
        if not 0.0 <= self.fov_sampling_prob <= 1.0 or not 0.0 <= self.fov_threshold <= 1.0:
            raise ValueError("fov_sampling_prob and fov_threshold must lie in [0, 1]")
        if self.max_images_per_batch < 1 or self.val_frame_stride < 1 or self.max_frame_gap < 1:
            raise ValueError("max_images_per_batch, val_frame_stride and max_frame_gap must be >= 1")
        if self.val_frames < 0:
            raise ValueError(f"val_frames must be >= 0 (0 = every frame at the stride), got {self.val_frames}")
        if self.synthetic_trajectory not in ("orbit", "sweep"):
            raise ValueError(f"synthetic_trajectory must be 'orbit' or 'sweep', got {self.synthetic_trajectory!r}")
        lo, hi = self.synthetic_sweep_degrees
        if not 0.0 <= lo <= hi <= 360.0:
            raise ValueError(
                f"synthetic_sweep_degrees must satisfy 0 <= low <= high <= 360, got {self.synthetic_sweep_degrees}"
            )
        if self.synthetic_walls not in ("uniform", "distinct"):
            raise ValueError(f"synthetic_walls must be 'uniform' or 'distinct', got {self.synthetic_walls!r}")
