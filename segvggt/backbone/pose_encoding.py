"""VGGT's 9-d camera encoding "absT_quaR_FoV" <-> OpenCV extrinsics / intrinsics.

Encoding: `[t_x, t_y, t_z, q_x, q_y, q_z, q_w, fov_h, fov_w]` where [R | t] is cam_from_world
(t is not the camera centre), the quaternion is scalar-last and need not be unit length, and the
fields of view are in radians, height first. Intrinsics have the principal point at (W/2, H/2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def quat_to_mat(quat: Tensor) -> Tensor:
    """quat [..., 4] (x, y, z, w), any non-zero norm -> rotation [..., 3, 3]."""
    x, y, z, w = torch.unbind(quat, -1)
    two_s = 2.0 / (quat * quat).sum(-1)
    rows = (
        1 - two_s * (y * y + z * z), two_s * (x * y - z * w), two_s * (x * z + y * w),
        two_s * (x * y + z * w), 1 - two_s * (x * x + z * z), two_s * (y * z - x * w),
        two_s * (x * z - y * w), two_s * (y * z + x * w), 1 - two_s * (x * x + y * y),
    )  # fmt: skip
    return torch.stack(rows, -1).reshape(quat.shape[:-1] + (3, 3))


def mat_to_quat(R: Tensor) -> Tensor:
    """rotation [..., 3, 3] -> unit quaternion [..., 4] (x, y, z, w) with w >= 0.

    Computes the four candidate quaternions and keeps the best-conditioned one (largest |component|).
    """
    m = R.reshape(R.shape[:-2] + (9,))
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = torch.unbind(m, -1)
    diag_terms = torch.stack(
        [1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], dim=-1
    )
    q_abs = torch.sqrt(torch.clamp(diag_terms, min=0))  # 2|w|, 2|x|, 2|y|, 2|z|
    candidates = torch.stack(
        [
            torch.stack([q_abs[..., 0] ** 2, m21 - m12, m02 - m20, m10 - m01], dim=-1),
            torch.stack([m21 - m12, q_abs[..., 1] ** 2, m10 + m01, m02 + m20], dim=-1),
            torch.stack([m02 - m20, m10 + m01, q_abs[..., 2] ** 2, m12 + m21], dim=-1),
            torch.stack([m10 - m01, m20 + m02, m21 + m12, q_abs[..., 3] ** 2], dim=-1),
        ],
        dim=-2,
    )  # [..., 4 candidates, (w, x, y, z)]
    candidates = candidates / (2.0 * q_abs[..., None].clamp(min=0.1))
    best = F.one_hot(q_abs.argmax(dim=-1), num_classes=4).to(candidates.dtype)
    wxyz = (candidates * best[..., None]).sum(-2)
    xyzw = wxyz[..., [1, 2, 3, 0]]
    return torch.where(xyzw[..., 3:4] < 0, -xyzw, xyzw)


def pose_encoding_to_extri_intri(pose_enc: Tensor, image_size_hw: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """pose_enc [B, S, 9] -> (extrinsics cam_from_world [B, S, 3, 4], intrinsics [B, S, 3, 3]).

    `image_size_hw` = (H, W) of the images the encoding refers to; fy = (H/2) / tan(fov_h/2),
    fx = (W/2) / tan(fov_w/2), principal point (W/2, H/2).
    """
    if pose_enc.shape[-1] != 9:
        raise ValueError(f"pose encoding must end in 9 values, got {tuple(pose_enc.shape)}")
    H, W = image_size_hw
    R = quat_to_mat(pose_enc[..., 3:7])
    extrinsics = torch.cat([R, pose_enc[..., :3, None]], dim=-1)
    fy = (H / 2.0) / torch.tan(pose_enc[..., 7] / 2.0)
    fx = (W / 2.0) / torch.tan(pose_enc[..., 8] / 2.0)
    intrinsics = torch.zeros(pose_enc.shape[:-1] + (3, 3), device=pose_enc.device, dtype=pose_enc.dtype)
    intrinsics[..., 0, 0] = fx
    intrinsics[..., 1, 1] = fy
    intrinsics[..., 0, 2] = W / 2
    intrinsics[..., 1, 2] = H / 2
    intrinsics[..., 2, 2] = 1.0
    return extrinsics, intrinsics


def extri_intri_to_pose_encoding(extrinsics: Tensor, intrinsics: Tensor, image_size_hw: tuple[int, int]) -> Tensor:
    """extrinsics cam_from_world [B, S, 3, 4], intrinsics [B, S, 3, 3] -> pose_enc [B, S, 9] (float32).

    The principal point is not encoded (VGGT assumes the image centre).
    """
    H, W = image_size_hw
    quat = mat_to_quat(extrinsics[..., :3, :3])
    fov_h = 2 * torch.atan((H / 2) / intrinsics[..., 1, 1])
    fov_w = 2 * torch.atan((W / 2) / intrinsics[..., 0, 0])
    return torch.cat([extrinsics[..., :3, 3], quat, fov_h[..., None], fov_w[..., None]], dim=-1).float()
