"""Answering clicks on one encoding: eagerly, or replaying a CUDA graph of the prompts-only decode.

With the object queries cached (query_cache.py) a click runs R prompt queries through L query blocks:
a few hundred small kernels whose launch cost, not their arithmetic, sets the latency on a GPU. On
CUDA, `ClickDecoder` captures `SegVGGT.decode_clicks` once per padded shape (R and clicks per prompt
rounded up to a power of two; padding prompts / clicks are marked invalid, so they change nothing) and
then answers a click with a few input copies and one graph replay. The graph reads the encoding's
keys/values and the cache in place, so it is tied to that encoding (the Predictor makes a new decoder
per `set_images`). If a capture fails, the decoder says so once and answers eagerly from then on.
"""

from __future__ import annotations

import contextlib
import logging

import torch
from torch import Tensor, nn

from segvggt.segmentation.prompts import ClickBatch

logger = logging.getLogger(__name__)

MAX_GRAPHS = 8  # padded shapes kept captured at once (each holds its output buffers)


def padded(n: int) -> int:
    """Smallest power of two >= n (>= 1)."""
    return 1 << max(0, (n - 1).bit_length())


def pad_clicks(clicks: ClickBatch, num_prompts: int, num_clicks: int) -> ClickBatch:
    """Pad a ClickBatch [B, R, N] to [B, num_prompts, num_clicks] with invalid clicks / prompts."""
    B, R, N = clicks.frame.shape

    def pad(x: Tensor, value) -> Tensor:
        out = x.new_full((B, num_prompts, num_clicks, *x.shape[3:]), value)
        out[:, :R, :N] = x
        return out

    click_valid = pad(clicks.click_valid, False)
    return ClickBatch(pad(clicks.frame, 0), pad(clicks.xy, 0.0), pad(clicks.positive, 0), click_valid,
                      click_valid.any(dim=-1))  # fmt: skip


class ClickDecoder:
    """`decode_clicks` of one encoding: clicks (a ClickBatch [B, R, N]) -> dict of prompt_masks
    [B, R, S, h, w], prompt_scores [B, R], prompt_valid [B, R] (see SegVGGT.decode).

    Args:
        model: a SegVGGT in eval mode; encoded / cache: its encoding and object-query cache.
        autocast_dtype: the Predictor's autocast dtype (None = fp32).
        use_graphs: capture CUDA graphs (only on CUDA; False = always eager).
    """

    def __init__(
        self, model: nn.Module, encoded, cache, autocast_dtype: torch.dtype | None, use_graphs: bool = True
    ) -> None:
        self.model = model
        self.encoded = encoded
        self.cache = cache
        self.device = encoded.instance_features.device
        self.autocast_dtype = autocast_dtype
        self.use_graphs = use_graphs and self.device.type == "cuda"
        self._graphs: dict[tuple[int, int], tuple[torch.cuda.CUDAGraph, ClickBatch, dict[str, Tensor]]] = {}

    def eager(self, clicks: ClickBatch) -> dict[str, Tensor]:
        with torch.no_grad(), self._autocast(cache_enabled=True):
            return self.model.decode_clicks(self.encoded, clicks, self.cache)

    def __call__(self, clicks: ClickBatch) -> dict[str, Tensor]:
        if not self.use_graphs:
            return self.eager(clicks)
        B, R, N = clicks.frame.shape
        key = (padded(R), padded(N))
        try:
            graph, static, outputs = self._graphs.get(key) or self._capture(key, clicks)
        except Exception as error:  # noqa: BLE001 - any capture failure falls back to the same answer, eagerly
            logger.warning("CUDA graph capture of the click decoder failed (%s); answering clicks eagerly", error)
            self.use_graphs = False
            self._graphs.clear()
            return self.eager(clicks)
        full = pad_clicks(clicks, *key)
        for name in ("frame", "xy", "positive", "click_valid", "prompt_valid"):
            getattr(static, name).copy_(getattr(full, name), non_blocking=True)
        graph.replay()
        return {name: value[:, :R].clone() for name, value in outputs.items()}

    def _autocast(self, cache_enabled: bool):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype, cache_enabled=cache_enabled)

    def _capture(self, key: tuple[int, int], clicks: ClickBatch):
        if len(self._graphs) >= MAX_GRAPHS:
            self._graphs.pop(next(iter(self._graphs)))
        static = pad_clicks(clicks, *key)

        def run() -> dict[str, Tensor]:
            # cache_enabled=False: autocast's weight-cast cache must not outlive a graph capture.
            with torch.no_grad(), self._autocast(cache_enabled=False):
                return self.model.decode_clicks(self.encoded, static, self.cache)

        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(2):  # warm-up outside the capture (library handles, workspace allocation)
                run()
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            outputs = run()
        self._graphs[key] = (graph, static, outputs)
        logger.debug("captured the click decoder for %d prompt(s) x %d click(s)", *key)
        return self._graphs[key]
