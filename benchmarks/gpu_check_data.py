"""The inputs of benchmarks/gpu_check.sh: a few ScanNet-layout scans prepared for ScanNet200, and random
VGGT-1B weights in the official checkpoint's layout.

    python benchmarks/gpu_check_data.py scenes  --out DIR   # needs open3d (ray casting): run it on the CPU machine
    python benchmarks/gpu_check_data.py weights --out DIR   # DIR/model.pt, 1.19 B random parameters (~4.8 GB)
    python benchmarks/gpu_check_data.py weights --out DIR --tiny   # a tiny backbone + DIR/scannet200_tiny.yaml
                                                                   # (the check's dry run on a CPU)

The scans are written by the project's independent ScanNet-layout writer (tests/data/scannet_from_synthetic.py:
.sens, mesh, segments, aggregation, 2D zips, label tsv) and prepared by tools/prepare_scannet.py, as a user's
would be: 3 scenes of the official train list and 1 of the val list, 30 frames each, every frame kept.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO / "tests" / "data"))

TRAIN = ("scene0191_00", "scene0191_01", "scene0191_02")
VAL = ("scene0568_00",)


def scenes(out: Path, frames: int) -> int:
    import prepare_scannet
    from scannet_from_synthetic import write_scannet_layout

    with tempfile.TemporaryDirectory() as raw:
        for k, scene in enumerate(TRAIN + VAL):
            print(f"writing raw ScanNet layout of {scene} ({frames} frames)", flush=True)
            write_scannet_layout(Path(raw), scene, seed=10 + k, frames=frames)
        return prepare_scannet.main(["--raw", raw, "--out", str(out), "--benchmark", "scannet200",
                                     "--frame-skip", "1"])  # fmt: skip


# The dry run's backbone: the scannet200 recipe's structure at a size a CPU trains in seconds.
TINY_BACKBONE = {
    "vggt": {"img_size": 56, "patch_size": 14, "embed_dim": 32},
    "aggregator": {"depth": 4, "num_heads": 2, "patch_embed": "conv"},
    "camera_head": {"dim_in": 64, "trunk_depth": 1, "num_heads": 2},
    "dpt_common": {"dim_in": 64, "features": 8, "out_channels": [4, 8, 16, 16], "intermediate_layer_idx": [0, 1, 2, 3]},
}  # fmt: skip


def weights(out: Path, tiny: bool = False) -> int:
    import torch
    import yaml

    from segvggt.backbone import build_vggt

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = build_vggt(TINY_BACKBONE if tiny else None)  # VGGT-1B: the official key layout without the track head
    torch.save(model.state_dict(), out / "model.pt")
    if tiny:
        (out / "scannet200_tiny.yaml").write_text(yaml.safe_dump({
            "base": str(REPO / "configs" / "scannet200.yaml"),
            "model": {"backbone": TINY_BACKBONE, "num_queries": 6, "query_heads": 2, "mask_dim": 8, "lora_rank": 4},
            "data": {"image_size": 56, "max_images_per_batch": 8},
            "trainer": {"accelerator": "cpu"},
        }))  # fmt: skip
    print(f"wrote {out / 'model.pt'} ({sum(p.numel() for p in model.parameters()) / 1e9:.2f} B parameters)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["scenes", "weights"])
    parser.add_argument("--out", required=True)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--tiny", action="store_true", help="weights: a tiny backbone and its config (dry run)")
    args = parser.parse_args()
    if args.what == "scenes":
        return scenes(Path(args.out), args.frames)
    return weights(Path(args.out), args.tiny)


if __name__ == "__main__":
    sys.exit(main())
