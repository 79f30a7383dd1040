"""hf:// checkpoints: spec parsing, huggingface_hub's real cache in offline mode, and mocked downloads (no network)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from segvggt.backbone import CheckpointError
from segvggt.hub import DEFAULT_FILES, parse_hub_spec, resolve_checkpoint

huggingface_hub = pytest.importorskip("huggingface_hub")
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture()
def offline_cache(tmp_path, monkeypatch):
    """An empty hub cache, with huggingface_hub in offline mode (as HF_HUB_OFFLINE=1 sets it)."""
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def put_in_cache(cache, repo_id: str, filename: str, data: bytes):
    """Lay a file out the way huggingface_hub caches downloads (refs/main -> snapshots/<commit>/file)."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT)
    target = repo / "snapshots" / COMMIT / filename
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


@pytest.mark.parametrize("spec, expected", [
    ("hf://facebook/VGGT-1B/model.pt", ("facebook/VGGT-1B", "model.pt", None)),
    ("hf://org/name", ("org/name", None, None)),
    ("hf://org/name@v1.0/sub/weights.safetensors", ("org/name", "sub/weights.safetensors", "v1.0")),
    ("hf:/org/name/model.pt", ("org/name", "model.pt", None)),  # what Path("hf://...") turns it into
])  # fmt: skip
def test_parse_hub_spec(spec, expected):
    assert parse_hub_spec(spec) == expected


def test_plain_paths_pass_through(tmp_path):
    assert resolve_checkpoint(tmp_path / "last.ckpt") == tmp_path / "last.ckpt"
    assert resolve_checkpoint(None) is None
    with pytest.raises(CheckpointError, match="hf://ORG/NAME"):
        resolve_checkpoint("hf://just-a-name")


def test_offline_reads_the_cache_and_names_what_is_missing(offline_cache):
    cached = put_in_cache(offline_cache, "org/name", "model.pt", b"weights")
    # no file named: model.safetensors is not cached, model.pt is (DEFAULT_FILES order)
    assert DEFAULT_FILES == ("model.safetensors", "model.pt")
    assert resolve_checkpoint("hf://org/name").resolve() == cached.resolve()
    with pytest.raises(CheckpointError, match="hf://org/name/other.pt: not in the local hub cache and HF_HUB_OFFLINE"):
        resolve_checkpoint("hf://org/name/other.pt")
    with pytest.raises(CheckpointError, match="hf://org/missing/model.safetensors or model.pt: not in the local hub cache"):
        resolve_checkpoint("hf://org/missing")


def test_from_pretrained_and_cli_load_a_cached_export(offline_cache, tiny_model, photos, tmp_path, capsys):
    from helpers import tools_on_path
    from segvggt.inference import Predictor, export_weights

    weights = tmp_path / "w.safetensors"
    export_weights(tiny_model, weights, benchmark="synthetic", image_size=56)
    put_in_cache(offline_cache, "me/segvggt-tiny", "model.safetensors", weights.read_bytes())
    predictor = Predictor.from_pretrained("me/segvggt-tiny", device="cpu")
    assert predictor.has_segmentation and predictor.loaded.kind == "export"
    assert Predictor.from_pretrained("hf://me/segvggt-tiny/model.safetensors", device="cpu").loaded.image_size == 56

    tools_on_path()
    import infer

    folder, _ = photos
    out = tmp_path / "out"
    code = infer.main(["--images", str(folder), "--checkpoint", "hf://me/segvggt-tiny", "--out", str(out), "--quiet",
                       "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    assert len(json.loads((out / "cameras.json").read_text())["frames"]) == 3
    code = infer.main(["--images", str(folder), "--checkpoint", "hf://me/other", "--out", str(tmp_path / "o2"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("error:") == 1 and "HF_HUB_OFFLINE" in err and not (tmp_path / "o2").exists()


def test_online_download_is_mocked_and_falls_back_to_model_pt(monkeypatch, tmp_path):
    from huggingface_hub.errors import EntryNotFoundError

    calls = []
    target = tmp_path / "model.pt"
    target.write_bytes(b"x")

    def fake_download(repo_id, filename, revision=None, cache_dir=None):
        calls.append((repo_id, filename, revision))
        if filename == "model.pt":
            return str(target)
        raise EntryNotFoundError(f"{filename} not in {repo_id}")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    assert resolve_checkpoint("hf://facebook/VGGT-1B@main") == target
    assert calls == [("facebook/VGGT-1B", "model.safetensors", "main"), ("facebook/VGGT-1B", "model.pt", "main")]
    with pytest.raises(CheckpointError, match="no weights.bin in the repository; name the file"):
        resolve_checkpoint("hf://facebook/VGGT-1B/weights.bin")

    def unreachable(repo_id, filename, revision=None, cache_dir=None):
        raise ConnectionError("Max retries exceeded")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", unreachable)
    with pytest.raises(CheckpointError, match=r"download failed \(ConnectionError: Max retries exceeded\)"):
        resolve_checkpoint("hf://facebook/VGGT-1B/model.pt")


def test_train_check_inputs_resolves_hub_pretrained(monkeypatch, tmp_path):
    from helpers import tools_on_path

    tools_on_path()
    import train

    target = tmp_path / "model.pt"
    target.write_bytes(b"x")
    seen = []
    monkeypatch.setattr(huggingface_hub, "hf_hub_download",
                        lambda repo_id, filename, revision=None, cache_dir=None: seen.append((repo_id, filename)) or str(target))
    data = SimpleNamespace(benchmark="synthetic", root=str(tmp_path / "synthetic"))
    cfg = SimpleNamespace(pretrained="hf://facebook/VGGT-1B/model.pt", data=data)
    train.check_inputs(cfg)  # resolves (downloads once) before any model is built
    assert seen == [("facebook/VGGT-1B", "model.pt")]
    with pytest.raises(train.ToolError, match="pre-trained checkpoint nowhere.pt not found"):
        train.check_inputs(SimpleNamespace(pretrained="nowhere.pt", data=cfg.data))
