#!/usr/bin/env python
"""Evaluate an instance-segmentation submission folder with the official ScanNet AP.

    python tools/eval_instances.py --gt GT_DIR --pred PRED_DIR --benchmark scannet \
        [--class-agnostic] [--json OUT.json [--official-csv]] [--missing-as-empty] \
        [--excluded-vertices '/data/scannetpp/data/{scene}/scans/mesh_aligned_0.05_mask.txt']

The scene list is the GT folder's `<scene>.txt` files; every one needs `<scene>.txt` in PRED_DIR
unless --missing-as-empty. Nothing is written into PRED_DIR (nor GT_DIR): --json must lie outside both.
Files in PRED_DIR that are links leading outside it are refused; error messages never quote file contents.
Predictions whose label is not an evaluated class are ignored, as by the official script, with one
`warning:` line giving their count. Bad input: one line on stderr, exit 2.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from _common import OneLineParser, ToolError, tool_exit_code  # noqa: E402
from segvggt.data.classes import BENCHMARKS  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 done, 2 bad input (one `error:` line on stderr), 130 interrupted."""
    return tool_exit_code(_run, argv)


def _run(argv: list[str] | None) -> int:
    p = OneLineParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gt", required=True, type=Path, help="folder of GT <scene>.txt files")
    p.add_argument("--pred", required=True, type=Path, help="submission folder (<scene>.txt + masks)")
    p.add_argument("--benchmark", required=True, choices=BENCHMARKS)
    p.add_argument("--class-agnostic", action="store_true", help="one class for all evaluated labels")
    p.add_argument("--json", type=Path, help="write results (fractions) to this JSON file")
    p.add_argument("--official-csv", action="store_true",
                   help="also write semantic_instance_evaluation.txt next to --json")  # fmt: skip
    p.add_argument("--missing-as-empty", action="store_true",
                   help="a GT scene without prediction file counts as an empty prediction")  # fmt: skip
    p.add_argument("--excluded-vertices", metavar="PATTERN",
                   help="per-scene excluded vertex index file, '{scene}' = scene id (ScanNet++)")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.official_csv and args.json is None:
        p.error("--official-csv needs --json (the CSV is written into the JSON's folder)")

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    from segvggt.evaluation.report import format_table, write_json, write_official_csv
    from segvggt.evaluation.submission import evaluate_submission
    from segvggt.validation import check_output_file

    if args.json is not None:
        check_output_file(args.json, "--json", [("GT folder", args.gt), ("prediction folder", args.pred)])
    try:
        result = evaluate_submission(
            args.gt, args.pred, args.benchmark, class_agnostic=args.class_agnostic,
            missing_as_empty=args.missing_as_empty, excluded_pattern=args.excluded_vertices,
            progress=not args.quiet,
        )  # fmt: skip
    except ValueError as err:  # e.g. an unknown class table: a user-facing message, one line
        raise ToolError(str(err)) from None
    print(format_table(result))
    if args.json is not None:
        write_json(args.json, result, benchmark=args.benchmark, gt=str(args.gt), pred=str(args.pred))
        if args.official_csv:
            write_official_csv(args.json.parent / "semantic_instance_evaluation.txt", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
