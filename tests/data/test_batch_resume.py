"""A resumed run continues the stream of training batches exactly where its checkpoint left it."""

from segvggt.data.batching import DynamicBatchSampler, ScenePermutation


def _sampler():
    order = ScenePermutation(7, shuffle=True, seed=3)
    return DynamicBatchSampler(order, min_frames=2, max_frames=6, max_images_per_batch=8, image_size=56)


def _stream(sampler, epochs):
    out = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)  # what Lightning does before each epoch
        out.extend(list(sampler))
    return out


def test_start_at_continues_the_uninterrupted_stream():
    reference = _stream(_sampler(), 4)
    lengths = [len(_sampler().plan(e)) for e in range(4)]
    assert len(set(lengths)) > 1  # dynamic batching: epochs differ in length, so no divmod shortcut
    for done in (0, 1, lengths[0] - 1, lengths[0], lengths[0] + 2):
        resumed = _sampler()
        resumed.start_at(done)
        # Lightning's restored epoch counter does not matter any more: pass a wrong one.
        stream = _stream(resumed, 4)
        assert stream[: len(reference) - done] == reference[done:]
