"""FADA ablation (the paper's Table 4) and FADA weight / normalisation sweep on synthetic rooms.

Every run is a real training run: `tools/train.py --config synthetic_fada --out RUN --set ...`,
then its held-out evaluation (metrics.json, written by the same script). The table reports, per
variant, the mean and spread over seeds of AP50, AP, class-agnostic AP50 and prompt mIoU, and the
FADA term's logged share of the matching cost and of the weighted loss (losses/term_shares.py,
logged every `log_every_n_steps` as train/share/*; averaged over the second half of training).

    python benchmarks/ablation_fada.py                       # everything below, resumable
    python benchmarks/ablation_fada.py --table               # only print the table of finished runs
    python benchmarks/ablation_fada.py --variants none loss loss_cost --seeds 0 1 2 --steps 400

Runs live in OUT/<variant>-s<seed> (default data_cache/ablation_fada, ignored by git). A finished run
(metrics.json present) is skipped; an interrupted one continues from its last.ckpt (--resume). Wall
time per run (all starts together) is kept in OUT/<run>/wall.json. Runs go one at a time.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class Variant:
    """One row of the ablation: which FADA switches are on, its weight and normalisation."""

    name: str
    loss: bool
    cost: bool
    weight: float = 1.0
    per_frame: bool = True  # fada_frame_normalization: JS summed over frames / S (the paper)

    def overrides(self) -> list[str]:
        return [
            f"loss.fada_loss={str(self.loss).lower()}",
            f"loss.fada_in_cost={str(self.cost).lower()}",
            f"loss.w_fada={self.weight}",
            f"loss.fada_frame_normalization={str(self.per_frame).lower()}",
        ]

    def describe(self) -> str:
        if not (self.loss or self.cost):
            return "no FADA"
        where = " + ".join(k for k, on in (("loss", self.loss), ("cost", self.cost)) if on)
        return f"{where}, w={self.weight:g}, {'JS/S' if self.per_frame else 'JS summed'}"


VARIANTS = {
    v.name: v
    for v in (
        Variant("none", loss=False, cost=False),
        Variant("loss", loss=True, cost=False),
        Variant("loss_cost", loss=True, cost=True),  # the paper's full model, divided by S (the old default)
        Variant("loss_cost_w10", loss=True, cost=True, weight=10.0),
        Variant("loss_cost_w100", loss=True, cost=True, weight=100.0),
        Variant("loss_cost_sum", loss=True, cost=True, per_frame=False),  # the default since this ablation
    )
}
# What a plain run does, most informative first, so an interrupted ablation still has a table.
DEFAULT_PLAN = [
    ("none", 0), ("loss_cost", 0), ("loss", 0), ("loss_cost_w10", 0), ("loss_cost_w100", 0),
    ("loss_cost_sum", 0), ("none", 1), ("loss_cost", 1), ("loss", 1),
    ("loss_cost_w100", 1), ("loss_cost", 2), ("loss_cost_sum", 1), ("none", 2), ("loss_cost_sum", 2),
    ("loss", 2), ("loss_cost_w10", 1),
]  # fmt: skip
METRICS = (("ap50", "AP50"), ("ap", "AP"), ("agnostic_ap50", "agn. AP50"), ("prompt_miou", "prompt mIoU"))
SHARES = (
    ("train/share/cost_magnitude_fada", "FADA % cost (size)"),
    ("train/share/cost_spread_fada", "FADA % cost (spread)"),
    ("train/share/loss_fada", "FADA % loss"),
)


def run_dir(out: Path, variant: str, seed: int) -> Path:
    return out / f"{variant}-s{seed}"


def train_command(config: str, run: Path, variant: Variant, seed: int, steps: int, resume: bool) -> list[str]:
    cmd = [sys.executable, str(ROOT / "tools" / "train.py"), "--config", config, "--out", str(run)]
    if resume:
        cmd.append("--resume")  # the run's own config.yaml already holds the overrides
    else:
        cmd += ["--set", f"trainer.seed={seed}", f"trainer.max_steps={steps}", "trainer.threads=1",
                "data.num_workers=0", *variant.overrides()]  # fmt: skip
    return cmd


def run_one(config: str, out: Path, variant: Variant, seed: int, steps: int) -> bool:
    """Train + evaluate one (variant, seed) unless finished; True when metrics.json exists after."""
    run = run_dir(out, variant.name, seed)
    if (run / "metrics.json").is_file():
        return True
    resume = (run / "config.yaml").is_file()
    wall_file = run / "wall.json"
    spent = json.loads(wall_file.read_text())["seconds"] if wall_file.is_file() else 0.0
    print(f"[ablation] {variant.name} seed {seed}: {'resuming' if resume else 'starting'} in {run}", flush=True)
    start = time.perf_counter()
    proc = subprocess.run(train_command(config, run, variant, seed, steps, resume), cwd=ROOT)
    spent += time.perf_counter() - start
    if run.is_dir():
        wall_file.write_text(json.dumps({"seconds": spent}))
    if proc.returncode != 0:
        print(f"[ablation] {variant.name} seed {seed} failed (exit {proc.returncode}); rerun to resume", flush=True)
    return (run / "metrics.json").is_file()


def share_means(run: Path, second_half: bool = True) -> dict[str, float]:
    """Mean of each logged train/share/* series over the second half of training (nan if absent)."""
    from segvggt.training.curves import read_metrics_csv

    series = read_metrics_csv(sorted((run / "logs").glob("version_*/metrics.csv")))
    out = {}
    for key, _ in SHARES:
        values = series.get(key, [])
        if values and second_half:
            last = values[-1][0]
            values = [(s, v) for s, v in values if s >= last / 2]
        out[key] = statistics.fmean(v for _, v in values) if values else math.nan
    return out


def collect(out: Path, variant: str, seeds: list[int], measure_js: bool = True) -> list[dict]:
    """One dict per finished seed: the held-out metrics, the shares, steps and wall seconds."""
    rows = []
    for seed in seeds:
        run = run_dir(out, variant, seed)
        if not (run / "metrics.json").is_file():
            continue
        metrics = json.loads((run / "metrics.json").read_text())  # undefined metrics are null
        metrics = {k: math.nan if v is None else v for k, v in metrics.items()}
        row = {"seed": seed, **metrics, **share_means(run)}
        js = heldout_attention_js(run) if measure_js or (run / "heldout_js.json").is_file() else {}
        row["heldout_js"], row["uniform_js"] = js.get("js", math.nan), js.get("uniform_js", math.nan)
        row["heldout_js_own"] = js.get("js_own", math.nan)
        wall = run / "wall.json"
        row["wall_s"] = json.loads(wall.read_text())["seconds"] if wall.is_file() else math.nan
        rows.append(row)
    return rows


def visible_view_fractions(instances, min_fraction: float = 0.001) -> list[float]:
    """instances: [F, H, W] instance ids of one scene's F views (0 = none) -> for every object, the
    fraction of the F views where it covers >= min_fraction of the image (MV-SAM's 0.1 %)."""
    import numpy as np

    instances = np.asarray(instances)
    F, pixels = instances.shape[0], instances[0].size
    flat = instances.reshape(F, -1)
    return [float(((flat == obj).sum(1) >= min_fraction * pixels).mean()) for obj in np.unique(flat) if obj > 0]


def view_coverage(root: Path, split: str = "val") -> str:
    """One line: in how many of its scenes' views the objects of `split` are seen (the ablation needs
    objects seen in a few views only, or frame attention has nothing to find)."""
    import numpy as np

    from segvggt.data.prepared import PreparedScene, read_split

    fractions, views = [], set()
    for scene_id in read_split(root, split):
        scene = PreparedScene(root, scene_id)
        views.add(len(scene))
        fractions += visible_view_fractions(np.stack([scene.instance(i) for i in range(len(scene))]))
    f = np.asarray(fractions)
    return (f"{root} ({split}): {len(f)} objects, {sorted(views)} views per scene; an object is seen in "
            f"{100 * f.mean():.0f} % of the views on average (median {100 * np.median(f):.0f} %, "
            f"10-90 % range {100 * np.percentile(f, 10):.0f}-{100 * np.percentile(f, 90):.0f} %)")


def heldout_attention_js(run: Path, max_scenes: int = 24) -> dict[str, float]:
    """Does a query attend to the frames where its object is? Mean JS (natural log, in [0, ln 2], NOT
    divided by S, averaged over the query layers) between the frame attention mass of each matched
    query and its instance's visibility, over the first `max_scenes` held-out scenes at the
    evaluation's frames. "js": matching by class + mask cost only (FADA off), so every variant is
    measured alike, on the queries that segment the objects; "js_own": matching with the run's own
    cost (FADA in it where the run had it), the queries the FADA loss trained. Returns {"js",
    "js_own", "uniform_js" (a query attending to every frame equally: the reference to beat),
    "pairs", "scenes"}, cached in RUN/heldout_js.json."""
    import dataclasses

    import torch

    from segvggt.config import experiment_from_dict
    from segvggt.data.batching import collate_scenes
    from segvggt.data.dataset import SceneDataset
    from segvggt.evaluation.run_eval import eval_data_config
    from segvggt.inference.checkpoints import load_model
    from segvggt.losses.fada import js_divergence
    from segvggt.losses.matcher import HungarianMatcher

    cache = run / "heldout_js.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    import yaml

    cfg = experiment_from_dict(yaml.safe_load((run / "config.yaml").read_text()))
    model = load_model(run / "last.ckpt").model.eval()
    data_cfg = eval_data_config(cfg)
    dataset = SceneDataset(data_cfg, data_cfg.val_split, train=False)
    by_mask = HungarianMatcher(dataclasses.replace(cfg.loss, fada_in_cost=False, num_points=0))
    own = HungarianMatcher(dataclasses.replace(cfg.loss, num_points=0))
    values, own_values, uniform = [], [], []
    with torch.no_grad():
        for index in range(min(len(dataset), max_scenes)):
            batch = collate_scenes([dataset[dataset.default_key(index)]])
            out = model(batch.images, return_frame_mass=True, heads=())
            target, mass = batch.targets[0], out["frame_attention_mass"][:, 0]  # mass [L, Q, S]
            for matcher, into in ((by_mask, values), (own, own_values)):
                q_idx, t_idx = matcher(out, batch.targets)[0]
                into += js_divergence(mass[:, q_idx], target.visibility[t_idx][None]).mean(0).tolist()
            vis = target.visibility[t_idx]  # [X, S]
            uniform += js_divergence(torch.full_like(vis, 1.0 / vis.shape[-1]), vis).tolist()
    n = max(len(values), 1)
    result = {"js": sum(values) / n, "js_own": sum(own_values) / n, "uniform_js": sum(uniform) / n,
              "pairs": len(values), "scenes": min(len(dataset), max_scenes)}  # fmt: skip
    cache.write_text(json.dumps(result))
    return result


def _mean_sd(values: list[float], scale: float = 100.0, digits: int = 1) -> str:
    values = [v * scale for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.fmean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def markdown_table(out: Path, variants: list[str], seeds: list[int], measure_js: bool = True) -> str:
    """The ablation table (mean ± sample sd over the finished seeds, in %) and a per-run table."""
    head = ["variant", "seeds", *(label for _, label in METRICS), *(label for _, label in SHARES),
            "held-out JS, mask-matched", "held-out JS, own matching", "uniform JS"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    per_run = ["| run | steps | wall (min) | held-out scenes | " + " | ".join(label for _, label in METRICS)
               + " | held-out JS |", "|" + "---|" * (5 + len(METRICS))]  # fmt: skip
    for name in variants:
        rows = collect(out, name, seeds, measure_js)
        if not rows:
            continue
        cells = [f"{name} ({VARIANTS[name].describe()})", ",".join(str(r["seed"]) for r in rows)]
        cells += [_mean_sd([r.get(k, math.nan) for r in rows]) for k, _ in METRICS]
        cells += [_mean_sd([r[k] for r in rows], digits=2) for k, _ in SHARES]
        cells += [_mean_sd([r[k] for r in rows], 1.0, 3) for k in ("heldout_js", "heldout_js_own", "uniform_js")]
        lines.append("| " + " | ".join(cells) + " |")
        for r in rows:
            values = " | ".join(f"{100 * r.get(k, math.nan):.1f}" for k, _ in METRICS)
            steps, scenes = r.get("global_step", "-"), r.get("num_scenes", "-")
            per_run.append(f"| {name}-s{r['seed']} | {steps} | {r['wall_s'] / 60:.1f} | {scenes} | {values} | "
                           f"{r['heldout_js']:.3f} |")  # fmt: skip
    return "\n".join(lines) + "\n\n" + "\n".join(per_run)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="synthetic_fada", help="config name or YAML path (default synthetic_fada)")
    p.add_argument("--out", type=Path, default=ROOT / "data_cache" / "ablation_fada", help="folder of the runs")
    p.add_argument("--variants", nargs="*", choices=sorted(VARIANTS), help="variants (default: the plan)")
    p.add_argument("--seeds", nargs="*", type=int, help="seeds (default: the plan)")
    p.add_argument("--steps", type=int, default=400, help="training steps per run (default 400)")
    p.add_argument("--table", action="store_true", help="print the table of finished runs, train nothing")
    p.add_argument("--data", type=Path, default=ROOT / "data_cache" / "synthetic_fada",
                   help="the config's data root, for the view-coverage line (default data_cache/synthetic_fada)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.steps < 1:
        print("ablation_fada: --steps must be >= 1", file=sys.stderr)
        return 2
    if args.variants or args.seeds:
        plan = [(v, s) for s in (args.seeds or [0]) for v in (args.variants or list(VARIANTS))]
    else:
        plan = DEFAULT_PLAN
    if not args.table:
        for name, seed in plan:
            run_one(args.config, args.out, VARIANTS[name], seed, args.steps)
    variants = [v for v in VARIANTS if any(v == name for name, _ in plan)]
    seeds = sorted({s for _, s in plan})
    print(markdown_table(args.out, variants, seeds))
    if (args.data / "splits").is_dir():
        print("\n" + view_coverage(args.data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
