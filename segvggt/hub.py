"""Weights from the Hugging Face Hub: `hf://org/name[/file]` wherever a checkpoint path is accepted.

    Predictor.from_pretrained("org/name")                        # org/name's model.safetensors (or model.pt)
    python tools/infer.py --checkpoint hf://org/name/last.ckpt ...
    pretrained: hf://facebook/VGGT-1B/model.pt                   # in configs/*.yaml

Files go through huggingface_hub's cache (~/.cache/huggingface, or HF_HOME / HF_HUB_CACHE): downloaded once,
then reused. With HF_HUB_OFFLINE=1 nothing is fetched and a file that is not cached is a clear error.
Without a file name, DEFAULT_FILES are tried in order (what `export_weights` writes, then VGGT's model.pt).
Anything that is not an `hf://` string is returned unchanged, as a Path.
"""

from __future__ import annotations

import os
from pathlib import Path

from segvggt.backbone.checkpoint import CheckpointError

PREFIX = "hf://"
DEFAULT_FILES = ("model.safetensors", "model.pt")


def is_hub_spec(spec: str | os.PathLike) -> bool:
    # Path("hf://a/b") collapses to "hf:/a/b": accept both spellings
    return isinstance(spec, str | os.PathLike) and str(spec).startswith(("hf://", "hf:/"))


def parse_hub_spec(spec: str) -> tuple[str, str | None, str | None]:
    """'hf://org/name[@revision][/path/in/repo]' -> (repo_id, filename or None, revision or None)."""
    body = str(spec).split(":", 1)[1].lstrip("/")
    parts = [p for p in body.split("/") if p]
    if len(parts) < 2:
        raise CheckpointError(f"{spec}: a hub checkpoint is hf://ORG/NAME[/FILE] (e.g. hf://facebook/VGGT-1B/model.pt)")
    name, _, revision = parts[1].partition("@")
    return f"{parts[0]}/{name}", "/".join(parts[2:]) or None, revision or None


def _offline() -> bool:
    try:
        from huggingface_hub import constants

        return bool(constants.is_offline_mode())
    except (ImportError, AttributeError):
        return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_download(repo_id: str, filename: str | None = None, revision: str | None = None,
                 cache_dir: str | Path | None = None) -> Path:
    """Local path of `filename` in hub repo `repo_id` (downloaded into the cache if needed). CheckpointError if
    it cannot be had: offline and not cached, no such repo or file, network failure."""
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError
    except ImportError:
        raise CheckpointError(f"hf://{repo_id}: loading from the hub needs huggingface_hub: pip install huggingface_hub") from None
    candidates = (filename,) if filename else DEFAULT_FILES
    not_in_repo, not_cached = [], None
    for name in candidates:
        try:
            return Path(hf_hub_download(repo_id, name, revision=revision, cache_dir=cache_dir))
        except LocalEntryNotFoundError as err:  # a subclass of EntryNotFoundError: offline and not cached
            not_cached = not_cached or (name, err)
        except EntryNotFoundError:  # the repository has no such file
            not_in_repo.append(name)
        except Exception as err:  # noqa: BLE001 - network / auth / missing repo: one message for the user
            raise CheckpointError(_download_error(repo_id, name, err)) from None
    if not_cached is not None:
        raise CheckpointError(_download_error(repo_id, " or ".join(candidates), not_cached[1]))
    raise CheckpointError(f"hf://{repo_id}: no {' or '.join(not_in_repo)} in the repository; name the file: "
                          f"hf://{repo_id}/FILE")


def _download_error(repo_id: str, filename: str, err: Exception) -> str:
    what = f"hf://{repo_id}/{filename}"
    if _offline() or type(err).__name__ in ("LocalEntryNotFoundError", "OfflineModeIsEnabled"):
        return (f"{what}: not in the local hub cache and HF_HUB_OFFLINE is set (or the hub cannot be reached); "
                "download it once with network access, or pass a local file")
    if type(err).__name__ in ("RepositoryNotFoundError", "GatedRepoError"):
        return f"{what}: repository not found or not accessible (check the name; private repos need `hf auth login`)"
    text = str(err).splitlines()[0][:200] if str(err) else ""
    return f"{what}: download failed ({type(err).__name__}: {text})"


def resolve_checkpoint(spec: str | os.PathLike | None) -> Path | None:
    """`hf://org/name[/file]` -> local cached file (downloading once); a path -> Path(path); None -> None."""
    if spec is None:
        return None
    if not is_hub_spec(spec):
        return Path(spec)
    repo_id, filename, revision = parse_hub_spec(str(spec))
    return hub_download(repo_id, filename, revision)
