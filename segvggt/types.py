"""Typed containers shared by data, losses, training, evaluation and inference.

Shape letters: B scenes, S views, H, W input pixels, h, w mask pixels (H/2, W/2),
N ground-truth instances, K classes, Q queries, R prompts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class InstanceTargets:
    """Ground truth of one scene for the set criterion.

    Attributes:
        labels:     [N] int64, contiguous class index in [0, K) (see segvggt.data.classes).
        masks:      [N, S, h, w] float {0, 1}, one 3D instance = one target across all views.
        visibility: [N, S] float, the instance's share of visible pixels per view (rows sum to 1).
        instance_ids: [N] int64, the dataset's instance ids (the `inst` of label*1000+inst).
    """

    labels: Tensor
    masks: Tensor
    visibility: Tensor
    instance_ids: Tensor

    def to(self, device: torch.device | str) -> "InstanceTargets":
        return InstanceTargets(
            self.labels.to(device), self.masks.to(device), self.visibility.to(device), self.instance_ids.to(device)
        )

    @property
    def num_instances(self) -> int:
        return int(self.labels.shape[0])


@dataclass
class SceneBatch:
    """A batch of B scenes with the same number of views S and the same image size.

    Cameras follow the one convention of the project: OpenCV axes (x right, y down, z forward),
    `cam_from_world` [.., 3, 4], intrinsics in pixels of `images`.
    """

    images: Tensor  # [B, S, 3, H, W] float in [0, 1]
    depth: Tensor  # [B, S, H, W] float metres, 0 = invalid
    cam_from_world: Tensor  # [B, S, 3, 4]
    intrinsics: Tensor  # [B, S, 3, 3]
    instance_ids: Tensor  # [B, S, H, W] int64, 0 = no instance, same id = same 3D object
    targets: list[InstanceTargets]  # length B, masks at (H/2, W/2)
    scene_ids: list[str] = field(default_factory=list)
    frame_names: list[list[str]] = field(default_factory=list)  # [B][S]

    def to(self, device: torch.device | str) -> "SceneBatch":
        return SceneBatch(
            images=self.images.to(device),
            depth=self.depth.to(device),
            cam_from_world=self.cam_from_world.to(device),
            intrinsics=self.intrinsics.to(device),
            instance_ids=self.instance_ids.to(device),
            targets=[t.to(device) for t in self.targets],
            scene_ids=list(self.scene_ids),
            frame_names=[list(f) for f in self.frame_names],
        )

    @property
    def batch_size(self) -> int:
        return int(self.images.shape[0])

    @property
    def num_views(self) -> int:
        return int(self.images.shape[1])
