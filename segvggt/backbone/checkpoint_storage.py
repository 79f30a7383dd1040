"""Checkpointed layer inputs stored in the autocast dtype (training memory; forward values unchanged).

With one gradient checkpoint per aggregator layer, what a training step keeps per layer and view is
the layer's input [P, C] in fp32 (5.6 MB at 518 px for VGGT-1B: 24 layers x 48 views = 6.5 GB). The
forward pass needs the fp32 residual stream, but the backward pass only recomputes the layer from
it; recomputing from a bf16 copy changes the gradients at the level of bf16 rounding (each layer's
matmuls cast their inputs to bf16 anyway) and halves those bytes. The forward values, and so the
losses, are exactly those of the plain path.

`low_precision_layer_inputs` is a `saved_tensors_hooks` context for the aggregator's layer loop:
every fp32 tensor that a checkpoint saves and that lives in a storage of exactly one layer's tokens
([B, S, P, C]: a layer's input, or a view of it such as the query keys/values' patch tokens) is
stored once per storage in `dtype` and restored to fp32 (same view) on use. Anything else (rope
tables, the [B, S, P, 2C] layers kept for the heads, which stay alive anyway) is saved as it is.
"""

from __future__ import annotations

from collections import OrderedDict
from contextlib import contextmanager
from collections.abc import Iterator

import torch
from torch import Tensor

# A layer's output is saved twice, by on_layer's reader (a view) and then by the next layer's checkpoint;
# the entry is evicted by the next layer's output, so the cache never keeps an fp32 layer alive longer.
RECENT_STORAGES = 1


@contextmanager
def low_precision_layer_inputs(layer_bytes: int, dtype: torch.dtype) -> Iterator[None]:
    """Inside: saved fp32 tensors whose storage holds exactly `layer_bytes` are kept in `dtype`."""
    recent: OrderedDict[int, tuple[torch.UntypedStorage, Tensor]] = OrderedDict()

    def pack(t: Tensor):
        if t.dtype != torch.float32 or t.untyped_storage().nbytes() != layer_bytes:
            return t
        storage = t.untyped_storage()
        key = storage.data_ptr()
        if key not in recent:
            # The whole storage as a flat tensor, converted once however many views of it are saved.
            flat = torch.empty(0, dtype=t.dtype, device=t.device).set_(storage)
            recent[key] = (storage, flat.to(dtype))  # the storage ref keeps its address from reuse
            while len(recent) > RECENT_STORAGES:
                recent.popitem(last=False)
        return recent[key][1], tuple(t.size()), tuple(t.stride()), t.storage_offset()

    def unpack(packed):
        if isinstance(packed, Tensor):
            return packed
        low, size, stride, offset = packed
        return low.float().as_strided(size, stride, offset)

    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
            yield
    finally:
        # Autograd keeps the pack hook with every tensor it packed, and with it this cache: empty it,
        # or it would hold its fp32 storage until the backward pass.
        recent.clear()
