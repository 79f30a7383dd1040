"""preview.png: per shown view the photo, its depth and the instance overlay, plus a top view of the
labelled points. Drawn with matplotlib's object API on an Agg canvas (no pyplot state)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segvggt.inference.writers import colorize_depth, instance_palette

THUMB = 256  # longest side of a preview tile
MAX_VIEWS = 6
MAX_POINTS = 60000


@dataclass
class Tile:
    """One view of the preview, already reduced to a thumbnail: photo [t, u, 3] uint8, depth and ids [t, u]."""

    name: str
    photo: np.ndarray | None
    depth: np.ndarray
    ids: np.ndarray


def make_tile(name: str, photo_path: str | None, depth: np.ndarray, ids: np.ndarray) -> Tile:
    """Reduce one view's original-resolution maps (and photo, if it is a file) to a thumbnail."""
    from PIL import Image, ImageOps

    h, w = depth.shape
    step = max(1, int(np.ceil(max(h, w) / THUMB)))
    photo = None
    if photo_path is not None and Path(photo_path).is_file():
        with Image.open(photo_path) as img:
            img = ImageOps.exif_transpose(img).convert("RGB")
            photo = np.asarray(img.resize((len(range(0, w, step)), len(range(0, h, step))), Image.Resampling.BILINEAR))
    return Tile(name, photo, depth[::step, ::step], ids[::step, ::step])


def shown_views(num_views: int) -> list[int]:
    """At most MAX_VIEWS view indices, evenly spaced."""
    if num_views <= MAX_VIEWS:
        return list(range(num_views))
    return sorted({round(i * (num_views - 1) / (MAX_VIEWS - 1)) for i in range(MAX_VIEWS)})


def write_preview(path: Path, tiles: list[Tile], points: np.ndarray, instance_ids: np.ndarray, num_instances: int) -> None:
    """Grid of (photo, depth, overlay) rows + a top view (x right, z up the page) of the labelled points."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    palette = instance_palette(num_instances)
    rows = max(len(tiles), 1)
    fig = Figure(figsize=(12, 3 * rows))
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(rows, 4, width_ratios=[1, 1, 1, 1.4])
    for r, tile in enumerate(tiles):
        overlay_base = tile.photo if tile.photo is not None else np.full(tile.ids.shape + (3,), 200, np.uint8)
        colours = palette[tile.ids.clip(0, num_instances)]
        overlay = np.where(tile.ids[..., None] > 0, (0.45 * overlay_base + 0.55 * colours).astype(np.uint8), overlay_base)
        for c, (image, title) in enumerate(((tile.photo, "photo"), (colorize_depth(tile.depth), "depth"), (overlay, "instances"))):
            ax = fig.add_subplot(grid[r, c])
            if image is not None:
                ax.imshow(image)
            ax.set_title(f"{tile.name}: {title}", fontsize=8)
            ax.axis("off")
    ax = fig.add_subplot(grid[:, 3])
    labelled = instance_ids > 0
    pts, ids = points[labelled], instance_ids[labelled]
    if len(pts) > MAX_POINTS:
        pick = np.random.default_rng(0).choice(len(pts), MAX_POINTS, replace=False)
        pts, ids = pts[pick], ids[pick]
    if len(pts):
        ax.scatter(pts[:, 0], pts[:, 2], c=palette[ids] / 255.0, s=0.5, linewidths=0)
        ax.set_aspect("equal", adjustable="datalim")
    else:
        ax.text(0.5, 0.5, "no labelled points", ha="center", va="center", transform=ax.transAxes)
    ax.set_title("top view of labelled points (x, z of the first camera)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
