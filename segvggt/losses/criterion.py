"""SetCriterion: SegVGGT's set-prediction and prompt losses, unweighted and named.

Keys (all unweighted; `weighted_sum` applies LossConfig.loss_weights() in one place):
    loss_class   cross-entropy over K+1 classes; unmatched queries target no-object (index K), whose
                 class weight is `no_object_weight`; mean weighted by class weights (DETR).
    loss_bce     sigmoid BCE of matched masks on the pair's points (importance-sampled plus points
                 inside its instance, see point_sampling.py), summed over pairs / num_masks.
    loss_dice    dice of matched masks on the same points, summed over pairs / num_masks.
    loss_fada    FADA of matched pairs / num_masks (when `cfg.fada_loss` and the mass is present).
    loss_prompt_bce, loss_prompt_dice
                 each prompt's masks on all views against its given instance (no matching),
                 summed over prompts / num_prompts.
    loss_prompt_score
                 BCE-with-logits of the prompt score towards the IoU (no gradient) of its binarised
                 mask (logit > 0, all pixels of all views) with its instance: sigmoid(score) learns
                 to predict the mask's IoU, as SAM's IoU head does (BCE rather than MSE because the
                 score is a logit).
    loss_class_aux{i}, loss_bce_aux{i}, loss_dice_aux{i}
                 with `outputs["aux_outputs"]` (LossConfig.deep_supervision): the same terms on query
                 block i's object predictions, matched on their own; weighted as their final terms.
num_masks and num_prompts are all-reduced over ranks when torch.distributed is initialised, then
divided by the world size and clamped to >= 1 (Mask2Former). A scene without instances contributes
only to loss_class (all queries -> no-object); mask terms then are 0 but still connected to the graph.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from segvggt.losses.config import LossConfig, aux_base_key
from segvggt.losses.fada import fada_loss
from segvggt.losses.mask_logits import SceneMaskLogits
from segvggt.losses.mask_losses import dice_loss, sigmoid_bce_loss
from segvggt.losses.matcher import HungarianMatcher, check_mask_shapes, frame_mass_of
from segvggt.losses.point_sampling import ScenePoints, importance_points, scene_points
from segvggt.types import InstanceTargets


def weighted_sum(losses: Mapping[str, Tensor], cfg: LossConfig) -> Tensor:
    """Sum of weight * loss over the `loss_*` keys; other keys are diagnostics and are skipped.

    Raises ValueError for a `loss_*` key without a weight in LossConfig.loss_weights(), so that a new
    loss cannot silently drop out of the objective.
    """
    weights = cfg.loss_weights()
    total = None
    for key, value in losses.items():
        if not key.startswith("loss_"):
            continue
        base = aux_base_key(key)
        if base not in weights:
            raise ValueError(f"loss {key!r} has no weight in LossConfig.loss_weights(); add one there")
        term = weights[base] * value
        total = term if total is None else total + term
    if total is None:
        raise ValueError(f"weighted_sum: no 'loss_*' key among {sorted(losses)}")
    return total


def _global_count(count: int, device: torch.device) -> float:
    num = torch.as_tensor(float(count), device=device)
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(num)
        num = num / dist.get_world_size()
    return max(float(num), 1.0)


def _global_mean(value: Tensor) -> Tensor:
    """Mean of a (detached) scalar over ranks; the value itself without torch.distributed."""
    value = value.detach().float().clone()
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(value)
        value = value / dist.get_world_size()
    return value.clamp_min(1e-12)


class SetCriterion(nn.Module):
    """Hungarian matching + class / mask / FADA / prompt losses (see module doc for the keys)."""

    def __init__(self, cfg: LossConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.matcher = HungarianMatcher(cfg)

    def weighted_sum(self, losses: Mapping[str, Tensor]) -> Tensor:
        """The one place where weights are applied (LossConfig.loss_weights())."""
        return weighted_sum(losses, self.cfg)

    def forward(
        self,
        outputs: Mapping[str, Tensor],
        targets: Sequence[InstanceTargets],
        prompt_targets: Sequence[Tensor] | None = None,
        indices: Sequence[tuple[Tensor, Tensor]] | None = None,
        generator: torch.Generator | None = None,
        cost_shares: list[dict[str, dict[str, float]]] | None = None,
    ) -> dict[str, Tensor]:
        """Unweighted named losses.

        Args:
            outputs: `pred_logits` [B, Q, K+1] and the masks as `pred_masks` [B, Q, S, h, w] or as
                `pred_mask_embed` [B, Q, D] + `instance_features` [B, S, D, h, w]; optionally
                `frame_attention_mass` [L, B, Q, S]; with prompts `prompt_masks` [B, R, S, h, w] (or
                `prompt_mask_embed` [B, R, D]), `prompt_scores` [B, R], `prompt_valid` [B, R].
            targets: B InstanceTargets (masks [N, S, h, w]).
            prompt_targets: optional B tensors [R_b] of instance indices into targets[b]; prompt r of
                scene b is row r of the prompt masks (rows R_b.. are padding).
            indices: precomputed matching (else computed here).
            generator: seeds the point sampling.
            cost_shares: a list to which the matcher appends each scene's cost-term shares
                (see HungarianMatcher.forward); untouched when `indices` are given.
        Returns:
            dict of scalar tensors, keys as in the module doc.
        """
        check_mask_shapes(outputs, targets)
        cfg = self.cfg
        points = [
            scene_points(t.masks.flatten(1), cfg.num_points, cfg.points_per_instance, generator) for t in targets
        ]
        with torch.autocast(device_type=outputs["pred_logits"].device.type, enabled=False):
            shared = [p.shared() for p in points]
            if indices is None:
                indices = self.matcher(outputs, targets, point_indices=shared, cost_shares=cost_shares)
            losses = {"loss_class": self.loss_class(outputs["pred_logits"], targets, indices)}
            losses.update(self.loss_masks(outputs, targets, indices, points, generator))
            if prompt_targets is not None:
                losses.update(self.loss_prompts(outputs, targets, prompt_targets, points, generator))
            for i, aux in enumerate(outputs.get("aux_outputs", ())):  # deep supervision, own matching
                aux = {**aux, "instance_features": outputs["instance_features"]} if "instance_features" in outputs else aux
                aux_indices = self.matcher(aux, targets, point_indices=shared)
                losses[f"loss_class_aux{i}"] = self.loss_class(aux["pred_logits"], targets, aux_indices)
                for key, value in self.loss_masks(aux, targets, aux_indices, points, generator).items():
                    losses[f"{key}_aux{i}"] = value
        return losses

    def _pair_points(
        self, full_logits: Tensor, target_rows: Tensor, points: ScenePoints, generator: torch.Generator | None
    ) -> Tensor | None:
        """Loss points of X matched pairs: [X, M'] flat indices (None = all pixels).

        full_logits: [X, P] the pairs' logits on every pixel (read without gradient for the
        uncertainty); target_rows: [X] their instance indices (for the per-instance points)."""
        cfg = self.cfg
        if points.uniform is None:
            return None
        X = full_logits.shape[0]
        if cfg.importance_sampling:
            chosen = importance_points(
                full_logits, cfg.num_points, cfg.oversample_ratio, cfg.importance_sample_ratio, generator
            )
        else:
            chosen = points.uniform[None].expand(X, -1)
        if points.per_instance is not None:
            chosen = torch.cat([chosen, points.per_instance[target_rows.to(points.per_instance.device)]], dim=1)
        return chosen

    def loss_class(
        self,
        pred_logits: Tensor,
        targets: Sequence[InstanceTargets],
        indices: Sequence[tuple[Tensor, Tensor]],
    ) -> Tensor:
        """pred_logits [B, Q, K+1] -> scalar weighted cross-entropy (unmatched -> no-object K)."""
        B, Q, K1 = pred_logits.shape
        target_classes = torch.full((B, Q), K1 - 1, dtype=torch.int64, device=pred_logits.device)
        for b, ((q_idx, t_idx), target) in enumerate(zip(indices, targets)):
            labels = target.labels[t_idx.to(target.labels.device)]
            target_classes[b, q_idx.to(pred_logits.device)] = labels.to(pred_logits.device)
        class_weight = torch.ones(K1, device=pred_logits.device)
        class_weight[-1] = self.cfg.no_object_weight
        total = F.cross_entropy(pred_logits.float().transpose(1, 2), target_classes, weight=class_weight, reduction="sum")
        # The weighted mean's normaliser is averaged over ranks (like num_masks), so DDP's averaged
        # gradient equals the one of a single process holding every rank's scenes.
        return total / _global_mean(class_weight[target_classes].sum())

    def loss_masks(
        self,
        outputs: Mapping[str, Tensor],
        targets: Sequence[InstanceTargets],
        indices: Sequence[tuple[Tensor, Tensor]],
        points: Sequence[ScenePoints],
        generator: torch.Generator | None = None,
    ) -> dict[str, Tensor]:
        """loss_bce, loss_dice (and loss_fada) on matched pairs, each / num_masks."""
        mass = frame_mass_of(outputs)
        use_fada = self.cfg.fada_loss and mass is not None
        # Zero-valued but graph-connected start, so empty batches still backpropagate.
        bce = dice = _connected_zero(outputs, "pred")
        fada = mass.float().sum() * 0.0 if use_fada else None
        num_matched = 0
        for b, (q_idx, t_idx) in enumerate(indices):
            if q_idx.numel() == 0:
                continue
            num_matched += q_idx.numel()
            masks = SceneMaskLogits(outputs, "pred", b)
            rows = q_idx.to(bce.device)
            with torch.no_grad():
                full = masks.full(rows)  # [X, P] matched rows only, for the importance sampling
            t_idx = t_idx.to(targets[b].masks.device)
            gt_full = targets[b].masks.flatten(1)[t_idx]
            chosen = self._pair_points(full, t_idx, points[b], generator)
            del full
            logits, gt = _at_pair_points(masks, rows, gt_full.to(bce.device), chosen)
            bce = bce + sigmoid_bce_loss(logits, gt).sum()
            dice = dice + dice_loss(logits, gt).sum()
            if use_fada:
                vis = targets[b].visibility[t_idx].to(mass.device).float()
                pair_fada = fada_loss(mass[:, b, q_idx.to(mass.device)].float(), vis, self.cfg.fada_frame_normalization)
                fada = fada + pair_fada.sum()
        num_masks = _global_count(num_matched, bce.device)
        losses = {"loss_bce": bce / num_masks, "loss_dice": dice / num_masks}
        if use_fada:
            losses["loss_fada"] = fada / num_masks
        return losses

    def loss_prompts(
        self,
        outputs: Mapping[str, Tensor],
        targets: Sequence[InstanceTargets],
        prompt_targets: Sequence[Tensor],
        points: Sequence[ScenePoints],
        generator: torch.Generator | None = None,
    ) -> dict[str, Tensor]:
        """loss_prompt_bce, loss_prompt_dice, loss_prompt_score, each / num_prompts."""
        if not any(isinstance(outputs.get(k), Tensor) for k in ("prompt_masks", "prompt_mask_embed")) or any(
            k not in outputs for k in ("prompt_scores", "prompt_valid")
        ):
            raise ValueError(
                "prompt_targets were given but the model outputs lack prompt_masks (or prompt_mask_embed), "
                "prompt_scores or prompt_valid; pass prompts to the model"
            )
        scores, valid = outputs["prompt_scores"], outputs["prompt_valid"]
        if len(prompt_targets) != scores.shape[0]:
            raise ValueError(f"got {len(prompt_targets)} prompt_targets for a batch of B={scores.shape[0]} scenes")
        bce = dice = _connected_zero(outputs, "prompt")
        score = scores.float().sum() * 0.0
        num_prompts = 0
        for b, tgt in enumerate(prompt_targets):
            R_b = int(tgt.numel())
            if R_b == 0:
                continue
            if R_b > scores.shape[1] or not bool(valid[b, :R_b].all()):
                raise ValueError(
                    f"scene {b}: {R_b} prompt targets but prompt_valid marks only "
                    f"{int(valid[b].sum())} of R={scores.shape[1]} prompts; prompt r must be row r"
                )
            n_inst = targets[b].num_instances
            if int(tgt.min()) < 0 or int(tgt.max()) >= n_inst:
                raise ValueError(
                    f"scene {b}: prompt target indices {tgt.tolist()} out of range for N={n_inst} instances"
                )
            num_prompts += R_b
            masks = SceneMaskLogits(outputs, "prompt", b)
            rows = torch.arange(R_b, device=scores.device)
            with torch.no_grad():
                full = masks.full(rows)  # [R_b, P], for the importance sampling and the IoU target
            tgt = tgt.to(targets[b].masks.device)
            gt_full = targets[b].masks.flatten(1)[tgt].to(full.device).float()
            chosen = self._pair_points(full, tgt, points[b], generator)
            pl, gl = _at_pair_points(masks, rows, gt_full, chosen)
            bce = bce + sigmoid_bce_loss(pl, gl).sum()
            dice = dice + dice_loss(pl, gl).sum()
            with torch.no_grad():
                pred_bin, gt_bin = full > 0, gt_full > 0.5
                inter = (pred_bin & gt_bin).sum(-1).float()
                union = (pred_bin | gt_bin).sum(-1).float()
                iou = torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))
            score = score + F.binary_cross_entropy_with_logits(scores[b, :R_b].float(), iou, reduction="sum")
        n = _global_count(num_prompts, scores.device)
        return {"loss_prompt_bce": bce / n, "loss_prompt_dice": dice / n, "loss_prompt_score": score / n}


def _connected_zero(outputs: Mapping[str, Tensor], kind: str) -> Tensor:
    """0.0 attached to the graph of the `kind` masks (or embeddings), so empty batches still backpropagate."""
    source = outputs.get(f"{kind}_masks")
    if not isinstance(source, Tensor):
        source = outputs[f"{kind}_mask_embed"]
    return source.float().sum() * 0.0


def _at_pair_points(
    masks: SceneMaskLogits, rows: Tensor, gt_full: Tensor, chosen: Tensor | None
) -> tuple[Tensor, Tensor]:
    """Differentiable logits of `rows` and their [X, P] targets, both at the pairs' points [X, M']
    (all pixels when chosen is None)."""
    if chosen is None:
        return masks.full(rows), gt_full.float()
    chosen = chosen.to(rows.device)
    return masks.pairs(rows, chosen), gt_full.float().gather(1, chosen.to(gt_full.device))
