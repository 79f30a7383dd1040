"""Camera paths of the synthetic rooms (see synthetic.py): "orbit" and "sweep" at eye height,
as OpenCV cam_from_world [3, 4] matrices (world z up)."""

from __future__ import annotations

import numpy as np


def look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """cam_from_world [3, 4] of an OpenCV camera at `eye` looking at `target`, world z up."""
    forward = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(forward, np.array([0.0, 0.0, 1.0]))
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    R = np.stack([right, down, forward])
    return np.concatenate([R, (-R @ eye)[:, None]], axis=1)


def camera_eyes(rng: np.random.Generator, size: np.ndarray, frames: int) -> np.ndarray:
    """Camera centres [F, 3] on an orbit around the room centre at eye height."""
    centre = np.array([size[0] / 2, size[1] / 2])
    radii = centre * rng.uniform(0.4, 0.6, size=2)
    start, turn = rng.uniform(0, 2 * np.pi), rng.choice([-1.0, 1.0])
    height = rng.uniform(1.3, 1.7)
    angle = start + turn * 2 * np.pi * np.arange(frames) / frames + rng.uniform(-0.1, 0.1, size=frames)
    xy = centre + radii * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return np.concatenate([xy, height + rng.uniform(-0.05, 0.05, size=(frames, 1))], axis=1)


def sweep_eyes(rng: np.random.Generator, size: np.ndarray, frames: int, degrees: tuple[float, float]) -> np.ndarray:
    """Camera centres [F, 3] on an arc of the ellipse around the room centre, evenly spaced over
    an arc of U(degrees) degrees (small jitter), at eye height."""
    centre = size[:2] / 2
    radii = centre * rng.uniform(0.55, 0.75, size=2)
    start, turn = rng.uniform(0, 2 * np.pi), rng.choice([-1.0, 1.0])
    span = np.deg2rad(rng.uniform(*degrees))
    height = rng.uniform(1.3, 1.7)
    angle = start + turn * span * np.arange(frames) / max(frames - 1, 1) + rng.uniform(-0.02, 0.02, size=frames)
    xy = centre + radii * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return np.concatenate([xy, height + rng.uniform(-0.05, 0.05, size=(frames, 1))], axis=1)


def sweep_poses(rng: np.random.Generator, size: np.ndarray, eyes: np.ndarray, objects: np.ndarray) -> np.ndarray:
    """cam_from_world [F, 3, 4] of cameras at `eyes` that all look near one spot: the room centre
    moved by a per-room offset and pulled a third of the way to the nearest object centre
    (objects [N, 2]), with a small per-view wobble, so consecutive views share most of the image."""
    spot = size[:2] / 2 + rng.uniform(-0.4, 0.4, size=2)
    if len(objects):
        spot = spot + (objects[np.argmin(np.linalg.norm(objects - spot, axis=1))] - spot) / 3
    height = rng.uniform(0.5, 1.0)
    poses = []
    for eye in eyes:
        target = np.array([*(spot + rng.uniform(-0.15, 0.15, size=2)), height + rng.uniform(-0.1, 0.1)])
        poses.append(look_at(eye, target))
    return np.stack(poses)


def camera_poses(rng: np.random.Generator, size: np.ndarray, eyes: np.ndarray, objects: np.ndarray) -> np.ndarray:
    """cam_from_world [F, 3, 4] of cameras at `eyes` looking across the room centre.

    The target sits beyond the centre (a shallow pitch, so views hold objects rather than the
    floor at the camera's feet), pulled halfway to the nearest object centre (objects [N, 2]),
    so that every object lands in several views.
    """
    centre = size[:2] / 2
    poses = []
    for eye in eyes:
        across = centre - (eye[:2] - centre) * rng.uniform(0.3, 0.8) + rng.uniform(-0.3, 0.3, size=2)
        if len(objects):
            nearest = objects[np.argmin(np.linalg.norm(objects - across, axis=1))]
            across = 0.5 * (across + nearest)
        poses.append(look_at(eye, np.array([*across, rng.uniform(0.5, 1.0)])))
    return np.stack(poses)
