"""Training-loss and validation-AP curves from the run's CSV log, as one PNG."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path

from segvggt.atomic import atomic_path


def read_metrics_csv(paths: str | Path | list) -> dict[str, list[tuple[int, float]]]:
    """CSVLogger metrics.csv file(s), oldest first -> {column: [(step, value), ...]} sorted by step.

    A resumed run logs some steps again; the later file wins for those steps.
    """
    merged: dict[str, dict[int, float]] = defaultdict(dict)
    for path in [paths] if isinstance(paths, (str, Path)) else paths:
        path = Path(path)
        if not path.is_file():
            continue
        with path.open() as f:
            for row in csv.DictReader(f):
                step = int(float(row.get("step") or 0))
                for key, value in row.items():
                    if key in ("step", "epoch") or value in ("", None):
                        continue
                    v = float(value)
                    if math.isfinite(v):
                        merged[key][step] = v
    return {key: sorted(values.items()) for key, values in merged.items()}


def plot_curves(csv_paths: str | Path | list, png_path: str | Path) -> bool:
    """Plot train/loss (and val/ap50, val/ap, val/prompt_miou, val/pose_auc30 with its constant-translation
    baseline, when logged); False if nothing was logged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = read_metrics_csv(csv_paths)
    if "train/loss" not in series:
        return False
    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(12, 3.6))
    steps, values = zip(*series["train/loss"])
    ax_loss.plot(steps, values, lw=1)
    ax_loss.set(xlabel="step", ylabel="weighted loss", title="training loss", yscale="log")
    curves = (("val/ap50", "AP50"), ("val/ap", "AP"), ("val/prompt_miou", "prompt mIoU"),
              ("val/pose_auc30", "camera AUC@30"))  # fmt: skip
    for key, label in curves:
        if key in series:
            s, v = zip(*series[key])
            ax_val.plot(s, v, marker="o", label=label)
    if "val/pose_auc30_constant_translation" in series:  # the trivial guess the cameras must beat
        s, v = zip(*series["val/pose_auc30_constant_translation"])
        ax_val.plot(s, v, ls="--", color="gray", label="AUC@30, constant-\ntranslation guess")
    ax_val.set(xlabel="step", ylabel="held-out score", title="validation", ylim=(0, 1))
    ax_val.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    fig.tight_layout()
    with atomic_path(png_path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return True
