"""configs/scannet200_paper.yaml = configs/scannet200.yaml minus click-prompt training and FOV sampling."""

from helpers import tools_on_path


def _flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def test_paper_recipe_differs_from_ours_in_exactly_the_documented_keys():
    tools_on_path()
    from _common import experiment_config

    ours_cfg, ours = experiment_config("scannet200")
    paper_cfg, paper = experiment_config("scannet200_paper")
    a, b = _flat(ours), _flat(paper)
    assert a.keys() == b.keys()
    assert {k for k in a if a[k] != b[k]} == {"name", "data.fov_sampling_prob", "prompts.prompts_per_scene"}
    assert paper_cfg.prompts.prompts_per_scene == 0 and paper_cfg.data.fov_sampling_prob == 0.0
    assert ours_cfg.prompts.prompts_per_scene > 0 and ours_cfg.data.fov_sampling_prob > 0
    assert ours_cfg.eval.ranking == paper_cfg.eval.ranking == "topk_pairs"
    # training clicks follow the evaluation's: 10 positive + 2 negative over every eligible view
    p, e = ours_cfg.prompts, ours_cfg.eval
    assert (p.max_positive, p.max_negative, p.max_views) == (e.prompt_positive_clicks, e.prompt_negative_clicks, 0)


def test_table7_frozen_backbone_override():
    tools_on_path()
    from _common import experiment_config

    cfg, _ = experiment_config("scannet200_paper", ["model.freeze_backbone=frozen"])
    assert cfg.model.freeze_backbone == "frozen" and cfg.model.lora_rank == 0
