"""Run SegVGGT on your own photos: cameras, depth, point clouds and 3D instances in one folder.

    python tools/infer.py --images photos/ --checkpoint last.ckpt --out results/room
    python tools/infer.py --images photos/ --checkpoint model.safetensors --out results/room \
        --prompt "0,812,455,+" --prompt "2,100,300,+;2,140,320,-"
    python tools/infer.py --video room.mp4 --fps 1 --max-frames 32 --checkpoint hf://org/name --out results/room \
        --export colmap,glb,nerfstudio --scale "0,120,400,610,410,0.80"

--checkpoint: a SegVGGT Lightning .ckpt, weights written by `segvggt.inference.export_weights`
(.safetensors) or the official VGGT model.pt (geometry only: no instances, no prompts); hf://org/name[/file]
downloads it once from the Hugging Face Hub (cached; HF_HUB_OFFLINE=1 uses the cache only).
--video: frames sampled at --fps (default 1 per second), at most --max-frames, kept as images/frame_NNNNNN.jpg.
--export: colmap (colmap/sparse/0/*.txt, .bin with pycolmap), glb (scene.glb), nerfstudio (transforms.json);
colmap and nerfstudio also copy the photos to images/.
--scale-factor F multiplies every length; --scale 'frame,x1,y1,x2,y2,METRES' picks F so that the two clicks
on that photo lie METRES apart. cameras.json "units" says which units the lengths are in (VGGT's own scale,
not metres, unless rescaled).
--prompt: one prompt per flag; clicks 'frame,x,y,+|-' separated by ';', x/y in pixels of the original
photo number `frame` (0-based, in file-name order after --max-frames).
Outputs (see segvggt/inference/writers.py): cameras.json, depth/, masks/, instances.json, scene.ply,
instances.ply, preview.png, prompts/<k>/, segvggt-manifest.json; with --export also colmap/sparse/0/,
scene.glb, transforms.json and images/ (docs/exports.md). OUT is created only when everything is written;
--overwrite replaces only a folder this tool wrote (it holds the manifest and nothing else), never one that
holds the photos or the checkpoint. Bad input: one line on stderr, exit 2; Ctrl-C: exit 130.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import OneLineParser, tool_exit_code  # noqa: E402

INTERRUPTED = "interrupted: no partial results were left (--out holds complete results or is as it was)"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", help="folder of photos of one scene (at least 2)")
    source.add_argument("--video", help="a video of one scene (.mp4, .mov, .webm, ...); needs segvggt[video]")
    parser.add_argument("--fps", type=float, default=1.0, help="video frames kept per second (default 1)")
    parser.add_argument("--checkpoint", required=True, help=".ckpt, exported .safetensors or official VGGT model.pt")
    parser.add_argument("--out", required=True, help="output folder (must not exist unless --overwrite)")
    parser.add_argument("--prompt", action="append", default=[], metavar="'f,x,y,+[;f,x,y,-...]'",
                        help="click prompt in original photo pixels; repeat for several objects")
    parser.add_argument("--max-frames", type=int, default=None, help="use at most N photos (or video frames), evenly spaced")
    parser.add_argument("--export", default="", metavar="colmap,glb,nerfstudio", help="extra formats, comma-separated")
    parser.add_argument("--scale-factor", type=float, default=None, help="multiply every length by F")
    parser.add_argument("--scale", default=None, metavar="'frame,x1,y1,x2,y2,METRES'",
                        help="rescale so that two clicks on one photo lie METRES apart (lengths become metres)")
    parser.add_argument("--conf-percentile", type=float, default=25.0,
                        help="drop points below this percentile of depth confidence from the PLY files (default 25)")
    parser.add_argument("--score-threshold", type=float, default=0.5, help="keep instances scoring at least this")
    parser.add_argument("--mask-threshold", type=float, default=0.5, help="mask probability that counts as inside")
    parser.add_argument("--device", default=None, help="cuda, cuda:1, cpu (default: cuda if available)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace OUT (a folder this tool wrote) when the new results are complete")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 done, 2 bad input (one `error:` line on stderr), 130 interrupted (Ctrl-C)."""
    return tool_exit_code(_run, argv, INTERRUPTED)


def _run(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    from segvggt.inference.pipeline import InferenceOptions, run_inference

    options = InferenceOptions(
        max_frames=args.max_frames, conf_percentile=args.conf_percentile, score_threshold=args.score_threshold,
        mask_threshold=args.mask_threshold, device=args.device, overwrite=args.overwrite, progress=not args.quiet,
        exports=tuple(args.export.split(",")) if args.export else (), scale_factor=args.scale_factor, scale=args.scale,
    )  # fmt: skip
    if args.video:
        from segvggt.inference.video import run_video_inference

        summary = run_video_inference(args.video, args.checkpoint, args.out, args.prompt, options, args.fps)
    else:
        summary = run_inference(args.images, args.checkpoint, args.out, args.prompt, options)
    print(f"{summary.out}: {summary.num_views} views, {summary.num_points} points, {summary.message}"
          + (f", {summary.num_prompts} prompt(s)" if summary.num_prompts else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
