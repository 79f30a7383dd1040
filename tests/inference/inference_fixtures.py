"""Helpers of the inference tests: a tiny SegVGGT saved the ways users get weights, synthetic photos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from segvggt.segmentation.segvggt import build_segvggt

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
IMAGE_SIZE = 56  # network width in crop mode: small and fast
TINY = dict(num_queries=6, num_classes=10, query_dim=16, query_heads=4, mask_dim=8, lora_rank=0)  # synthetic: K = 10


def plain(obj):
    """OrderedDicts / tuples -> dicts / lists (what a YAML-built config holds)."""
    return json.loads(json.dumps(obj))


def load_backbone_config() -> dict:
    return plain(torch.load(FIXTURES / "vggt_parity_conv.pt")["config"])


def make_tiny(backbone_config: dict, seed: int = 0, **options):
    torch.manual_seed(seed)
    model = build_segvggt(backbone_config, **{**TINY, **options}).eval()
    with torch.no_grad():  # spread the mask logits so that thresholds matter
        model.query_heads.mask_embed.layers[-1].weight.mul_(30.0)
    return model


def lightning_checkpoint(model, backbone_config: dict, path: Path, lora_rank: int = 0) -> Path:
    """The layout SegVGGTModule checkpoints have (hyper_parameters.config, state_dict 'model.' keys, extras)."""
    config = {
        "name": "tiny",
        "model": {"backbone": backbone_config, **{**TINY, "lora_rank": lora_rank}, "query_layers": "all"},
        "data": {"benchmark": "synthetic", "image_size": IMAGE_SIZE},
    }
    ckpt = {
        "epoch": 1, "global_step": 10, "pytorch-lightning_version": "2.6.6",
        "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
        "optimizer_states": [], "lr_schedulers": [], "loops": {}, "callbacks": {},
        "hparams_name": "kwargs", "hyper_parameters": {"config": config},
    }  # fmt: skip
    torch.save(ckpt, path)
    return path


def _photo(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth colour pattern with a few rectangles (so depth / masks have structure)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), np.full((h, w), 90)], -1).astype(np.uint8)
    for _ in range(3):
        y0, x0 = rng.integers(0, h // 2), rng.integers(0, w // 2)
        img[y0 : y0 + h // 3, x0 : x0 + w // 3] = rng.integers(0, 255, 3)
    return img


def write_photos(folder: Path) -> dict[str, tuple[int, int]]:
    """Three photos: a.png 60x80, b.jpg 48x72, c.jpg stored 70x50 with EXIF orientation 6 (shown 50x70).

    Returns {file name: (height, width) as displayed (after the EXIF rotation)}.
    """
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_photo(60, 80, 0)).save(folder / "a.png")
    Image.fromarray(_photo(48, 72, 1)).save(folder / "b.jpg", quality=95)
    rotated = Image.fromarray(_photo(50, 70, 2))
    exif = rotated.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display": stored 70 wide x 50 high, displayed 50 wide x 70 high
    rotated.save(folder / "c.jpg", quality=95, exif=exif.tobytes())
    return {"a.png": (60, 80), "b.jpg": (48, 72), "c.jpg": (70, 50)}
