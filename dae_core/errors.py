"""The one exception family the UI and the CLI catch and show as a single clear line."""


class DaeError(Exception):
    """Base of every expected failure in dae_core (bad data, bad checkpoint, bad setting)."""


class CheckpointError(DaeError):
    """A checkpoint that cannot be read, trusted or written; the message is one line."""


def one_line(error: BaseException, limit: int = 300) -> str:
    """'Type: text' of an exception on one line (of its cause, for a Ray error that wraps one)."""
    cause = getattr(error, "cause", None) or error
    return f"{type(cause).__name__}: {' '.join(str(cause).split())[:limit]}"
