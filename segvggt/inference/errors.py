"""The one exception type of inference for problems the user can fix (clicks, memory, model kind).

Data problems (missing / undecodable images) raise `segvggt.data.errors.DataError`, checkpoint problems
`segvggt.backbone.CheckpointError`; `tools/infer.py` prints any of the three as one line.
"""


class InferenceError(ValueError):
    """A request the loaded model or the machine cannot answer; the message says what to do instead."""
