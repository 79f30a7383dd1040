"""preview.png, a one-look summary a person can read: per shown view the photo, its depth and the instances
(solid colours, outlines, class labels), and beside them a top view of the scene (equal axes; points in
their instance colour and labelled, unlabelled points grey; cameras as frustums, numbered) with a legend.
Drawn with matplotlib's object API on an Agg canvas (no pyplot state).

The top view looks down along the cameras' average "up" direction (people hold cameras roughly level, so
their mean up vector is close to the vertical even when the first photo looks down): a floor plan with the
first camera's right to the right and its forward up the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segvggt.inference.writers import colorize_depth, instance_palette

THUMB = 320  # longest side of a preview tile
MAX_VIEWS = 6
MAX_POINTS = 80000
MAX_LEGEND = 24
FILL_ALPHA = 0.65


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


def outline(ids: np.ndarray) -> np.ndarray:
    """[h, w] bool: pixels of an instance (id > 0) that touch a pixel of another id (4-neighbourhood)."""
    edge = np.zeros(ids.shape, bool)
    edge[:-1] |= ids[:-1] != ids[1:]
    edge[1:] |= ids[1:] != ids[:-1]
    edge[:, :-1] |= ids[:, :-1] != ids[:, 1:]
    edge[:, 1:] |= ids[:, 1:] != ids[:, :-1]
    return edge & (ids > 0)


def overlay_instances(photo: np.ndarray | None, ids: np.ndarray, palette: np.ndarray, alpha: float = FILL_ALPHA) -> np.ndarray:
    """[h, w, 3] uint8: the photo (grey if None) with each instance filled in its colour and outlined in black."""
    base = photo if photo is not None else np.full(ids.shape + (3,), 200, np.uint8)
    colours = palette[ids.clip(0, len(palette) - 1)].astype(np.float32)
    out = np.where(ids[..., None] > 0, (1 - alpha) * base + alpha * colours, base).astype(np.uint8)
    out[outline(ids)] = 0
    return out


def label_anchor(mask: np.ndarray) -> tuple[float, float] | None:
    """(x, y) inside `mask` for its label: the mask pixel nearest the mask's centroid (None if empty)."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    k = int(np.argmin((xs - xs.mean()) ** 2 + (ys - ys.mean()) ** 2))
    return float(xs[k]), float(ys[k])


def _text_colour(rgb: np.ndarray) -> str:
    return "black" if float(rgb @ np.array([0.299, 0.587, 0.114])) > 140 else "white"


def _draw_tiles(fig, grid, tiles: list[Tile], palette: np.ndarray, labels: list[str]) -> None:
    for r, tile in enumerate(tiles):
        panels = ((tile.photo, "photo"), (colorize_depth(tile.depth), "depth (near = red)"),
                  (overlay_instances(tile.photo, tile.ids, palette), "instances"))
        for c, (image, title) in enumerate(panels):
            ax = fig.add_subplot(grid[r, c])
            if image is not None:
                ax.imshow(image, interpolation="nearest")
            else:
                ax.text(0.5, 0.5, "no photo file", ha="center", va="center", transform=ax.transAxes)
            ax.set_title(f"{tile.name}: {title}", fontsize=9)
            ax.axis("off")
        for n in np.unique(tile.ids[tile.ids > 0]):
            anchor = label_anchor(tile.ids == n)
            if anchor is not None and n - 1 < len(labels):
                colour = palette[n]
                ax.text(*anchor, labels[n - 1], fontsize=8, ha="center", va="center", color=_text_colour(colour),
                        bbox=dict(boxstyle="round,pad=0.15", facecolor=colour / 255.0, edgecolor="black", linewidth=0.5))


def floor_axes(cam_from_world: np.ndarray) -> np.ndarray:
    """[3, 3] rows (right, forward, up) of the top view in world coordinates: up = the cameras' mean up
    vector (-y of OpenCV cameras), right = the first camera's x made horizontal, forward = up x right."""
    R = cam_from_world[:, :, :3].astype(np.float64)
    up = -R[:, 1].mean(0)
    if np.linalg.norm(up) < 1e-3:  # cameras disagree completely: use the first one's
        up = -R[0, 1]
    up /= np.linalg.norm(up)
    right = R[0, 0] - (R[0, 0] @ up) * up
    if np.linalg.norm(right) < 1e-3:
        right = R[0, 2] - (R[0, 2] @ up) * up
    right /= np.linalg.norm(right)
    return np.stack([right, np.cross(up, right), up])


def _top_view_limits(xy: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Robust (1st-99th percentile) box of the points, grown to hold every camera, padded 5 %."""
    if len(xy):
        lo, hi = np.percentile(xy, [1, 99], axis=0)
        lo, hi = np.minimum(lo, centres.min(0)), np.maximum(hi, centres.max(0))
    else:
        lo, hi = centres.min(0) - 1, centres.max(0) + 1
    pad = 0.05 * max(float((hi - lo).max()), 1e-6)
    return lo - pad, hi + pad


def _draw_top_view(ax, result, keep: np.ndarray, palette: np.ndarray, labels: list[str]) -> list:
    from matplotlib import colormaps
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from segvggt.inference.exports_glb import frustum_segments, scene_extent

    plan = floor_axes(result.cam_from_world)[:2].T  # world [.., 3] @ plan -> (right, forward)
    pts, ids, rgb = result.points[keep], result.instance_ids[keep], result.colors[keep]
    if len(pts) > MAX_POINTS:
        pick = np.random.default_rng(0).choice(len(pts), MAX_POINTS, replace=False)
        pts, ids, rgb = pts[pick], ids[pick], rgb[pick]
    xy = pts.astype(np.float64) @ plan
    segmented = bool(result.instances)
    free = ids == 0
    # unlabelled points first (small, grey; photo colours for geometry-only results), instances on top
    ax.scatter(xy[free, 0], xy[free, 1], s=0.5, linewidths=0, rasterized=True,
               c=(np.array([[0.55, 0.55, 0.55]]) if segmented else rgb[free] / 255.0), alpha=0.45 if segmented else 0.8)
    ax.scatter(xy[~free, 0], xy[~free, 1], s=3.0, linewidths=0, c=palette[ids[~free]] / 255.0, rasterized=True)
    handles = []
    all_xy = result.points[keep].astype(np.float64) @ plan
    all_ids = result.instance_ids[keep]
    for n, inst in enumerate(result.instances):
        own = all_xy[all_ids == inst.id]
        if len(own):  # label at the median of its points (robust to the stray points of a mask edge)
            colour = palette[inst.id] / 255.0
            ax.text(*np.median(own, axis=0), labels[n], fontsize=7, ha="center", va="center",
                    color=_text_colour(palette[inst.id]),
                    bbox=dict(boxstyle="round,pad=0.15", facecolor=colour, edgecolor="none", alpha=0.85))
        if n < MAX_LEGEND:
            handles.append(Patch(facecolor=palette[inst.id] / 255.0, edgecolor="black", linewidth=0.5,
                                 label=f"{labels[n]} ({inst.score:.2f})"))
    if len(result.instances) > MAX_LEGEND:
        handles.append(Patch(facecolor="white", edgecolor="white", label=f"... {len(result.instances) - MAX_LEGEND} more"))
    depth = 0.06 * scene_extent(result.points[keep])
    cmap = colormaps["viridis"]
    centres = []
    for i in range(result.num_views):
        segs = frustum_segments(result.cam_from_world[i], result.intrinsics[i], result.image_size(i), depth)[:8] @ plan
        colour = cmap(i / max(result.num_views - 1, 1))
        for a, b in segs:
            ax.plot([a[0], b[0]], [a[1], b[1]], color=colour, linewidth=1.0)
        centre = segs[0][0]
        centres.append(centre)
        ax.annotate(str(i), centre, fontsize=7, color=colour, xytext=(-8, -8), textcoords="offset points")
    handles.append(Line2D([], [], color=cmap(0.0), label="cameras (frustums, numbered)"))
    lo, hi = _top_view_limits(xy, np.asarray(centres))
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal", adjustable="box")
    units = _short_units(result.units)
    ax.set_xlabel(f"right of camera 0 ({units})", fontsize=8)
    ax.set_ylabel(f"forward ({units})", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, linewidth=0.3, alpha=0.5)
    ax.set_title("top view, looking down (equal axes)", fontsize=10)
    return handles


def _short_units(units: str) -> str:
    return units.split(" (")[0]


def instance_labels(result) -> list[str]:
    """'3 chair' for each instance (its id and class name)."""
    return [f"{inst.id} {inst.class_name}" for inst in result.instances]


def write_preview(path: Path, tiles: list[Tile], result, keep: np.ndarray) -> None:
    """Rows of (photo, depth, instances) for the shown views beside the top view and its legend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    palette = instance_palette(len(result.instances))
    labels = instance_labels(result)
    rows = max(len(tiles), 2)
    fig = Figure(figsize=(20, 3.2 * rows))
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(rows, 4, width_ratios=[1, 1, 1, 2.8])
    _draw_tiles(fig, grid, tiles, palette, labels)
    ax = fig.add_subplot(grid[: max(rows - 1, 1), 3])
    handles = _draw_top_view(ax, result, keep, palette, labels)
    legend_ax = fig.add_subplot(grid[rows - 1, 3])
    legend_ax.axis("off")
    title = result.message if result.has_segmentation else "geometry only (no instances)"
    legend_ax.legend(handles=handles, loc="upper center", ncol=3, fontsize=8, frameon=False, title=title,
                     title_fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
