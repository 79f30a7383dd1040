"""Training-loss and validation-AP curves from the run's CSV log, as one PNG."""

from __future__ import annotations

import csv
import math
import os
import tempfile
from collections import defaultdict
from pathlib import Path


def read_metrics_csv(path: str | Path) -> dict[str, list[tuple[int, float]]]:
    """CSVLogger's metrics.csv -> {column: [(step, value), ...]} (empty cells skipped)."""
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    path = Path(path)
    if not path.is_file():
        return {}
    with path.open() as f:
        for row in csv.DictReader(f):
            step = int(float(row.get("step") or 0))
            for key, value in row.items():
                if key in ("step", "epoch") or value in ("", None):
                    continue
                v = float(value)
                if math.isfinite(v):
                    series[key].append((step, v))
    return dict(series)


def plot_curves(csv_path: str | Path, png_path: str | Path) -> bool:
    """Plot train/loss (and val/ap50, val/prompt_miou when logged); False if nothing was logged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = read_metrics_csv(csv_path)
    if "train/loss" not in series:
        return False
    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(10, 3.6))
    steps, values = zip(*series["train/loss"])
    ax_loss.plot(steps, values, lw=1)
    ax_loss.set(xlabel="step", ylabel="weighted loss", title="training loss", yscale="log")
    for key, label in (("val/ap50", "AP50"), ("val/ap", "AP"), ("val/prompt_miou", "prompt mIoU")):
        if key in series:
            s, v = zip(*series[key])
            ax_val.plot(s, v, marker="o", label=label)
    ax_val.set(xlabel="step", ylabel="held-out score", title="validation", ylim=(0, 1))
    ax_val.legend(loc="lower right")
    fig.tight_layout()
    png_path = Path(png_path)
    fd, tmp = tempfile.mkstemp(dir=png_path.parent, prefix=f".{png_path.stem}.", suffix=".png")
    os.close(fd)
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, png_path)
    return True
