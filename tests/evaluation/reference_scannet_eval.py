"""Straightforward reference of the official ScanNet instance evaluation, for parity tests only.

Written in the style of `evaluate_semantic_instance.py` (ScanNet BenchmarkScripts, Python 3 as in
Mask3D, with the ScanNet PR#26 empty-array guard): a dict of GT instances per class name, one dict
per prediction with its `matched_gt` list, each GT with its `matched_pred` list, per-instance numpy
counts over all vertices, and the same nested loops. It works on arrays instead of files: a scene is
`(gt_ids [M], masks [I, M], labels [I], scores [I])` plus optionally excluded vertex indices
(ScanNet++), predictions in file-line order. `reference_evaluate_folder` adds the official file
reading on top (GT and mask files parsed line by line into int64, the prediction txt split on
single spaces, each mask file read only when its label is evaluated), for end-to-end timing.
Deliberately slow and plain: this is the yardstick the vectorised
`segvggt.evaluation.instance_ap` is tested against.

Class-agnostic mode is expressed the way the official code would take it: the label-name table maps
every evaluated label id to the one name "object".

`random_scene` makes adversarial random scenes for the parity tests: duplicates, small GT
(< 100 vertices), grouped GT ids (< 1000, when class 0 is evaluated), void-heavy predictions,
predictions spanning two GT objects (IoU > 0.25 with both), wrong classes, non-evaluated labels,
tiny masks, tied scores, excluded vertices, classes without GT.
"""

from __future__ import annotations

import os

import numpy as np

OVERLAPS = np.append(np.arange(0.5, 0.95, 0.05), 0.25)
MIN_REGION_SIZE = 100


def get_instances(gt_ids, valid_class_ids, id_to_label, class_labels):
    instances = {label: [] for label in class_labels}
    for instance_id in np.unique(gt_ids):
        if instance_id == 0:
            continue
        label_id = int(instance_id // 1000)
        if label_id in valid_class_ids:
            inst = {
                "instance_id": int(instance_id),
                "label_id": label_id,
                "vert_count": int((gt_ids == instance_id).sum()),
                "med_dist": -1,
                "dist_conf": 0.0,
            }
            instances[id_to_label[label_id]].append(inst)
    return instances


def assign_instances_for_scan(scene_key, scene, valid_class_ids, id_to_label, class_labels):
    gt_ids, masks, labels, scores = scene[:4]
    excluded = scene[4] if len(scene) > 4 else None
    gt_ids = np.asarray(gt_ids, dtype=np.int64)
    keep_vtx = np.ones(len(gt_ids), dtype=bool)
    if excluded is not None:
        keep_vtx[np.asarray(excluded, dtype=np.int64)] = False
    gt_ids = gt_ids[keep_vtx]

    gt_instances = get_instances(gt_ids, valid_class_ids, id_to_label, class_labels)
    gt2pred = {label: [dict(gt) for gt in gt_instances[label]] for label in gt_instances}
    for label in gt2pred:
        for gt in gt2pred[label]:
            gt["matched_pred"] = []
    pred2gt = {label: [] for label in class_labels}
    bool_void = np.logical_not(np.isin(gt_ids // 1000, list(valid_class_ids)))

    for k in range(len(labels)):
        label_id = int(labels[k])
        conf = float(scores[k])
        if label_id not in id_to_label:
            continue
        label_name = id_to_label[label_id]
        pred_mask = np.not_equal(np.asarray(masks[k])[keep_vtx], 0)
        num = np.count_nonzero(pred_mask)
        if num < MIN_REGION_SIZE:
            continue
        pred_instance = {
            "filename": f"{scene_key}/pred_{k}",
            "label_id": label_id,
            "vert_count": int(num),
            "confidence": conf,
            "void_intersection": int(np.count_nonzero(np.logical_and(bool_void, pred_mask))),
        }
        matched_gt = []
        for gt_num, gt_inst in enumerate(gt2pred[label_name]):
            intersection = int(
                np.count_nonzero(np.logical_and(gt_ids == gt_inst["instance_id"], pred_mask))
            )
            if intersection > 0:
                gt_copy = dict(gt_inst)
                pred_copy = dict(pred_instance)
                gt_copy["intersection"] = intersection
                pred_copy["intersection"] = intersection
                matched_gt.append(gt_copy)
                gt2pred[label_name][gt_num]["matched_pred"].append(pred_copy)
        pred_instance["matched_gt"] = matched_gt
        pred2gt[label_name].append(pred_instance)
    return gt2pred, pred2gt


def evaluate_matches(matches, class_labels):
    min_region_size = MIN_REGION_SIZE
    ap = np.zeros((len(class_labels), len(OVERLAPS)), float)
    for oi, overlap_th in enumerate(OVERLAPS):
        pred_visited = {}
        for m in matches:
            for label_name in class_labels:
                for p in matches[m]["pred"][label_name]:
                    pred_visited[p["filename"]] = False
        for li, label_name in enumerate(class_labels):
            y_true = np.empty(0)
            y_score = np.empty(0)
            hard_false_negatives = 0
            has_gt = False
            has_pred = False
            for m in matches:
                pred_instances = matches[m]["pred"][label_name]
                gt_instances = matches[m]["gt"][label_name]
                gt_instances = [
                    gt for gt in gt_instances
                    if gt["instance_id"] >= 1000 and gt["vert_count"] >= min_region_size
                ]  # fmt: skip
                if gt_instances:
                    has_gt = True
                if pred_instances:
                    has_pred = True
                cur_true = np.ones(len(gt_instances))
                cur_score = np.ones(len(gt_instances)) * (-float("inf"))
                cur_match = np.zeros(len(gt_instances), dtype=bool)
                for gti, gt in enumerate(gt_instances):
                    found_match = False
                    for pred in gt["matched_pred"]:
                        if pred_visited[pred["filename"]]:
                            continue
                        overlap = float(pred["intersection"]) / (
                            gt["vert_count"] + pred["vert_count"] - pred["intersection"]
                        )
                        if overlap > overlap_th:
                            confidence = pred["confidence"]
                            if cur_match[gti]:
                                max_score = max(cur_score[gti], confidence)
                                min_score = min(cur_score[gti], confidence)
                                cur_score[gti] = max_score
                                cur_true = np.append(cur_true, 0)
                                cur_score = np.append(cur_score, min_score)
                                cur_match = np.append(cur_match, True)
                            else:
                                found_match = True
                                cur_match[gti] = True
                                cur_score[gti] = confidence
                                pred_visited[pred["filename"]] = True
                    if not found_match:
                        hard_false_negatives += 1
                cur_true = cur_true[cur_match]
                cur_score = cur_score[cur_match]

                for pred in pred_instances:
                    found_gt = False
                    for gt in pred["matched_gt"]:
                        overlap = float(gt["intersection"]) / (
                            gt["vert_count"] + pred["vert_count"] - gt["intersection"]
                        )
                        if overlap > overlap_th:
                            found_gt = True
                            break
                    if not found_gt:
                        num_ignore = pred["void_intersection"]
                        for gt in pred["matched_gt"]:
                            if gt["instance_id"] < 1000:
                                num_ignore += gt["intersection"]
                            if gt["vert_count"] < min_region_size:
                                num_ignore += gt["intersection"]
                        proportion_ignore = float(num_ignore) / pred["vert_count"]
                        if proportion_ignore <= overlap_th:
                            cur_true = np.append(cur_true, 0)
                            cur_score = np.append(cur_score, pred["confidence"])
                y_true = np.append(y_true, cur_true)
                y_score = np.append(y_score, cur_score)

            if has_gt and has_pred:
                score_arg_sort = np.argsort(y_score)
                y_score_sorted = y_score[score_arg_sort]
                y_true_sorted = y_true[score_arg_sort]
                y_true_sorted_cumsum = np.cumsum(y_true_sorted)
                (_thresholds, unique_indices) = np.unique(y_score_sorted, return_index=True)
                num_prec_recall = len(unique_indices) + 1
                num_examples = len(y_score_sorted)
                num_true_examples = y_true_sorted_cumsum[-1] if len(y_true_sorted_cumsum) > 0 else 0
                precision = np.zeros(num_prec_recall)
                recall = np.zeros(num_prec_recall)
                y_true_sorted_cumsum = np.append(y_true_sorted_cumsum, 0)
                for idx_res, idx_scores in enumerate(unique_indices):
                    cumsum = y_true_sorted_cumsum[idx_scores - 1]
                    tp = num_true_examples - cumsum
                    fp = num_examples - idx_scores - tp
                    fn = cumsum + hard_false_negatives
                    precision[idx_res] = float(tp) / (tp + fp)
                    recall[idx_res] = float(tp) / (tp + fn)
                precision[-1] = 1.0
                recall[-1] = 0.0
                recall_for_conv = np.copy(recall)
                recall_for_conv = np.append(recall_for_conv[0], recall_for_conv)
                recall_for_conv = np.append(recall_for_conv, 0.0)
                step_widths = np.convolve(recall_for_conv, [-0.5, 0, 0.5], "valid")
                ap_current = np.dot(precision, step_widths)
            elif has_gt:
                ap_current = 0.0
            else:
                ap_current = float("nan")
            ap[li, oi] = ap_current
    return ap


def compute_averages(aps, class_labels):
    o50 = np.where(np.isclose(OVERLAPS, 0.5))
    o25 = np.where(np.isclose(OVERLAPS, 0.25))
    o_all_but_25 = np.where(np.logical_not(np.isclose(OVERLAPS, 0.25)))
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=RuntimeWarning)
            avg = {
                "all_ap": np.nanmean(aps[:, o_all_but_25]),
                "all_ap_50%": np.nanmean(aps[:, o50]),
                "all_ap_25%": np.nanmean(aps[:, o25]),
                "classes": {},
            }
    for li, label_name in enumerate(class_labels):
        avg["classes"][label_name] = {
            "ap": np.average(aps[li, o_all_but_25]),
            "ap50%": np.average(aps[li, o50]),
            "ap25%": np.average(aps[li, o25]),
        }
    return avg


def reference_evaluate(scenes, class_ids, class_names=None, class_agnostic=False):
    """Official-style evaluation of `scenes` = [(gt_ids, masks, labels, scores[, excluded]), ...].

    Returns (aps [K, 10] in OVERLAPS order, averages dict as the official `compute_averages`).
    """
    valid_class_ids = tuple(int(c) for c in class_ids)
    if class_agnostic:
        class_labels = ["object"]
        id_to_label = {c: "object" for c in valid_class_ids}
    else:
        class_labels = list(class_names) if class_names else [f"class_{c}" for c in valid_class_ids]
        id_to_label = dict(zip(valid_class_ids, class_labels))
    matches = {}
    for s, scene in enumerate(scenes):
        gt2pred, pred2gt = assign_instances_for_scan(
            f"scene{s}", scene, valid_class_ids, id_to_label, class_labels
        )
        matches[f"scene{s}"] = {"gt": gt2pred, "pred": pred2gt}
    aps = evaluate_matches(matches, class_labels)
    return aps, compute_averages(aps, class_labels)


def load_ids(path):
    """One integer per line -> int64 array, the official way (text split into lines, then numpy)."""
    with open(path) as f:
        return np.array(f.read().splitlines(), dtype=np.int64)


def read_prediction_file(txt, pred_dir):
    """(mask paths, labels, confidences) of one `<scene>.txt`, in line order (a Python 3 dict keyed
    by absolute mask path keeps insertion order, so repeated paths collapse as in the official)."""
    info = {}
    root = os.path.abspath(pred_dir)
    with open(txt) as f:
        lines = f.read().splitlines()
    for line in lines:
        parts = line.split(" ")
        if len(parts) != 3 or os.path.isabs(parts[0]):
            raise ValueError(f"{txt}: invalid prediction line {line!r}")
        mask_file = os.path.abspath(os.path.join(os.path.dirname(txt), parts[0]))
        if os.path.commonprefix([mask_file, root]) != root:
            raise ValueError(f"{txt}: mask {mask_file} outside {root}")
        info[mask_file] = (int(float(parts[1])), float(parts[2]))
    return list(info), [v[0] for v in info.values()], [v[1] for v in info.values()]


class _MaskFiles:
    """Masks read on access (assign_instances_for_scan touches only evaluated labels)."""

    def __init__(self, paths, num_points):
        self.paths, self.num_points = paths, num_points

    def __getitem__(self, k):
        mask = load_ids(self.paths[k])
        if len(mask) != self.num_points:
            raise ValueError(f"wrong number of lines in {self.paths[k]}: {len(mask)} vs {self.num_points}")
        return mask


def reference_evaluate_folder(gt_dir, pred_dir, class_ids, class_names=None):
    """The official script end to end: every `<scene>.txt` of `pred_dir` (sorted) with the same-named
    GT file of `gt_dir`, files read the official way, then `reference_evaluate`'s loops."""
    names = sorted(
        f for f in os.listdir(pred_dir)
        if f.endswith(".txt") and f != "semantic_instance_evaluation.txt"
    )  # fmt: skip
    scenes = []
    for name in names:
        gt_ids = load_ids(os.path.join(gt_dir, name))
        paths, labels, scores = read_prediction_file(os.path.join(pred_dir, name), pred_dir)
        scenes.append((gt_ids, _MaskFiles(paths, len(gt_ids)), labels, scores))
    return reference_evaluate(scenes, class_ids, class_names)


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
