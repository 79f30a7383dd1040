"""Random but adversarial ScanNet-style scenes for parity tests and the benchmark.

Covers: duplicates, small GT (< 100 vertices), grouped GT ids (< 1000, when class 0 is evaluated),
void-heavy predictions, predictions spanning two GT objects (IoU > 0.25 with both), wrong classes,
non-evaluated labels, tiny masks, tied scores, excluded vertices, classes without GT.
"""

from __future__ import annotations

import numpy as np


def random_scene(rng: np.random.Generator, class_ids, num_points=1500, num_gt=8, num_pred=14,
                 with_excluded=False, tie_scores=False):
    class_ids = list(class_ids)
    void_labels = [-1, 0, 1, 2, 50, 777]  # unannotated / wall / floor / other labels
    void_labels = [v for v in void_labels if v not in class_ids]
    gt = np.zeros(num_points, np.int64)
    # void background: runs of non-evaluated labels
    pos = 0
    while pos < num_points:
        n = int(rng.integers(20, 300))
        lab = int(rng.choice(void_labels))
        gt[pos : pos + n] = lab * 1000 + int(rng.integers(0, 3)) if lab > 0 else (lab if lab < 0 else 0)
        pos += n
    perm = rng.permutation(num_points)
    start = 0
    objects = []
    present = rng.choice(class_ids, size=max(1, len(class_ids) - 1), replace=False)  # one class absent
    for k in range(num_gt):
        size = int(rng.choice([rng.integers(30, 100), rng.integers(100, 260)], p=[0.25, 0.75]))
        if start + size > num_points * 0.8:
            break
        idx = perm[start : start + size]
        start += size
        label = int(rng.choice(present))
        inst = k + 1 if rng.random() > 0.1 else 0  # instance 0 of an evaluated label: still a GT id
        gid = label * 1000 + inst
        if gid == 0:
            gid = 1000 * label + 999  # keep id 0 meaning "unannotated"
        if label == 0:
            gid = k + 1  # class 0 (ScanNet++ style): ids < 1000 are grouped GT, never matched
        gt[idx] = gid
        objects.append((idx, label))

    masks, labels, scores = [], [], []
    others = np.setdiff1d(np.arange(num_points), perm[:start])
    for _ in range(num_pred):
        kind = rng.random()
        m = np.zeros(num_points, bool)
        if objects and kind < 0.45:  # noisy copy of an object
            idx, label = objects[int(rng.integers(len(objects)))]
            keep = rng.random(len(idx)) < rng.uniform(0.4, 1.0)
            m[idx[keep]] = True
            extra = rng.choice(num_points, size=int(rng.integers(0, 120)), replace=False)
            m[extra] = True
            if rng.random() < 0.15:
                label = int(rng.choice(class_ids))  # maybe wrong class
        elif len(objects) >= 2 and kind < 0.6:  # union of two objects (IoU ~ 0.3-0.5 with each)
            a, b = rng.choice(len(objects), size=2, replace=False)
            m[objects[a][0]] = True
            m[objects[b][0]] = True
            label = objects[a][1] if rng.random() < 0.7 else int(rng.choice(class_ids))
            if objects[b][1] != label and rng.random() < 0.5:
                label = objects[b][1]
        elif kind < 0.75 and len(others):  # void-heavy, part object
            m[rng.choice(others, size=min(len(others), int(rng.integers(60, 300))), replace=False)] = True
            if objects:
                idx, label = objects[int(rng.integers(len(objects)))]
                m[idx[: int(len(idx) * rng.uniform(0.1, 0.9))]] = True
            else:
                label = int(rng.choice(class_ids))
        elif kind < 0.85:  # random blob, sometimes tiny
            m[rng.choice(num_points, size=int(rng.integers(50, 400)), replace=False)] = True
            label = int(rng.choice(class_ids))
        elif kind < 0.92:  # non-evaluated label
            m[rng.choice(num_points, size=int(rng.integers(100, 300)), replace=False)] = True
            label = int(rng.choice([1, 2, 40, 1191]))
        else:  # exact duplicate of the previous prediction
            if masks:
                m, label = masks[-1].copy(), labels[-1]
            else:
                label = int(rng.choice(class_ids))
        masks.append(m)
        labels.append(int(label))
        s = float(rng.random())
        scores.append(round(s, 1) if tie_scores else s)
    masks = np.stack(masks) if masks else np.zeros((0, num_points), bool)
    excluded = None
    if with_excluded:
        excluded = np.sort(rng.choice(num_points, size=int(rng.integers(0, num_points // 5)), replace=False))
    return gt, masks, np.asarray(labels, np.int64), np.asarray(scores, np.float64), excluded
