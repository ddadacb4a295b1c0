"""The one exception family the UI and the CLI catch and show as a single clear line."""


class DaeError(Exception):
    """Base of every expected failure in dae_core (bad data, bad checkpoint, bad setting)."""


class CheckpointError(DaeError):
    """A checkpoint that cannot be read, trusted or written; the message is one line."""
