"""Network-image maps -> maps at each photo's original resolution, through its `ImageRecord`.

Every original pixel centre (u, v) is sent to the network image with `ImageRecord.from_original` and the
map is sampled there (`grid_sample`, align_corners=False: pixel centres at integer coordinates, so the
same normalised grid serves maps at network resolution H x W and at mask resolution h x w). Samples are
clamped into the image content so padding is never blended in; original pixels that preprocessing cropped
away are reported as not covered. Rows are processed in chunks to bound memory for large photos.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from segvggt.backbone import ImageRecord
from segvggt.inference.postprocess import CHUNK_ELEMENTS, winner_ids


def _axis(record: ImageRecord, device: torch.device, axis: int) -> tuple[Tensor, Tensor]:
    """Network coordinate (clamped into the content) and 'covered' flag of every original row (axis 0) or
    column (axis 1); the mapping is separable, so a full grid is never built pixel by pixel."""
    n = record.original_hw[axis]
    scale = record.scale_yx[axis]
    offset = record.offset_yx[axis]
    y0, y1, x0, x1 = record.content_box
    lo, hi = (y0, y1) if axis == 0 else (x0, x1)
    final = (torch.arange(n, device=device, dtype=torch.float32) + 0.5) * scale - 0.5 + offset
    covered = (final >= lo - 0.5) & (final < hi - 0.5)
    return final.clamp(lo, hi - 1), covered


def _row_grid(record: ImageRecord, r0: int, r1: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Normalised sampling grid [1, r, w_o, 2] for original rows r0..r1, and covered [r, w_o] bool."""
    H, W = record.final_hw
    v, v_ok = _axis(record, device, 0)
    u, u_ok = _axis(record, device, 1)
    v, v_ok = v[r0:r1], v_ok[r0:r1]
    gx = ((2 * u + 1) / W - 1)[None, :].expand(r1 - r0, -1)
    gy = ((2 * v + 1) / H - 1)[:, None].expand(-1, u.shape[0])
    return torch.stack([gx, gy], dim=-1)[None], v_ok[:, None] & u_ok[None, :]


def _row_chunks(record: ImageRecord, channels: int) -> list[tuple[int, int]]:
    h_o, w_o = record.original_hw
    step = max(1, CHUNK_ELEMENTS // max(1, channels * w_o))
    return [(r, min(r + step, h_o)) for r in range(0, h_o, step)]


def sample_to_original(values: Tensor, record: ImageRecord, fill: float = 0.0) -> Tensor:
    """values [C, H', W'] on the network image (any resolution with the network's aspect) -> [C, h_o, w_o]
    bilinear at the original resolution; `fill` where preprocessing cropped the photo."""
    C = values.shape[0]
    h_o, w_o = record.original_hw
    out = torch.empty(C, h_o, w_o, device=values.device, dtype=torch.float32)
    source = values.float()[None]
    for r0, r1 in _row_chunks(record, C):
        grid, covered = _row_grid(record, r0, r1, values.device)
        sampled = F.grid_sample(source, grid, mode="bilinear", align_corners=False)[0]
        out[:, r0:r1] = sampled.masked_fill_(~covered, fill)
    return out


def instance_ids_to_original(mask_logits: Tensor, scores: Tensor, record: ImageRecord, mask_threshold: float) -> Tensor:
    """mask_logits [N, h, w] of one view, scores [N] -> ids [h_o, w_o] int32 (0 = none) at the original
    resolution: logits are sampled bilinearly at every original pixel, then the assignment rule applies."""
    h_o, w_o = record.original_hw
    out = torch.zeros(h_o, w_o, dtype=torch.int32, device=mask_logits.device)
    if mask_logits.shape[0] == 0:
        return out
    source = mask_logits.float()[None]
    for r0, r1 in _row_chunks(record, mask_logits.shape[0]):
        grid, covered = _row_grid(record, r0, r1, mask_logits.device)
        sampled = F.grid_sample(source, grid, mode="bilinear", align_corners=False)[0]
        ids = winner_ids(sampled, scores, mask_threshold)
        out[r0:r1] = ids.masked_fill_(~covered, 0)
    return out


def covered_mask(record: ImageRecord, device: torch.device | str = "cpu") -> Tensor:
    """[h_o, w_o] bool: original pixels that the network saw (False where crop mode cut them away)."""
    device = torch.device(device)
    return _axis(record, device, 0)[1][:, None] & _axis(record, device, 1)[1][None, :]


def content_masks(records: list[ImageRecord], device: torch.device | str = "cpu") -> Tensor:
    """[S, H, W] bool `content_mask` of S views of one network size, made in a few kernels (not S)."""
    H, W = records[0].final_hw
    boxes = torch.tensor([r.content_box for r in records], device=device)  # [S, 4] y0, y1, x0, x1
    rows = torch.arange(H, device=device)[None, :, None]
    cols = torch.arange(W, device=device)[None, None, :]
    y0, y1, x0, x1 = (boxes[:, i, None, None] for i in range(4))
    return (rows >= y0) & (rows < y1) & (cols >= x0) & (cols < x1)


def content_mask(record: ImageRecord, device: torch.device | str = "cpu") -> Tensor:
    """[H, W] bool on the network image: pixels that show the photo (False on padding)."""
    H, W = record.final_hw
    y0, y1, x0, x1 = record.content_box
    mask = torch.zeros(H, W, dtype=torch.bool, device=device)
    mask[y0:y1, x0:x1] = True
    return mask
