"""One exception type for bad data, so tools print one clear line instead of a stack trace."""


class DataError(Exception):
    """Bad or missing input data. The message names the file and says what to do."""
