"""The one exception family the UI and the CLI catch and show as a single clear line."""
import math
import reprlib
from pathlib import Path


class DaeError(Exception):
    """Base of every expected failure in dae_core (bad data, bad checkpoint, bad setting)."""


class CheckpointError(DaeError):
    """A checkpoint that cannot be read, trusted or written; the message is one line."""


class ConfigError(DaeError, ValueError):
    """An impossible or unknown setting; the message names the field by its label (and its key, the
    command line's flag), the rule and the value given."""


def one_line(error: BaseException, limit: int = 300) -> str:
    """'Type: text' of an exception on one line (of its cause, for a Ray error that wraps one)."""
    cause = getattr(error, "cause", None) or error
    return f"{type(cause).__name__}: {' '.join(str(cause).split())[:limit]}"


# How shown() quotes a value: short strings and containers, a few items of each.
_QUOTE = reprlib.Repr()
_QUOTE.maxlevel, _QUOTE.maxstring, _QUOTE.maxother = 2, 40, 40
_QUOTE.maxlist = _QUOTE.maxtuple = _QUOTE.maxdict = _QUOTE.maxset = _QUOTE.maxfrozenset = 4


def shown(value, limit: int = 60) -> str:
    """A value from a file or a link as a message quotes it: one line of at most `limit`
    characters, whatever its type and size ('0.001', "'gaussian'", '[1, 2, 3, ...]', 'a whole
    number of 401 digits'). Python refuses str() of a whole number past 4,300 digits."""
    if isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        digits = math.floor(value.bit_length() * math.log10(2)) + 1
        text = f"a {'negative ' if value < 0 else ''}whole number of about {digits:,} digits"
    else:
        try:
            text = _QUOTE.repr(value)
        except Exception:  # a huge number inside a container, a tensor that cannot print, ...
            text = f"a {type(value).__name__}"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def file_label(name, default: str = "upload") -> str:
    """A file's name as messages show it (a browser sends any text): its last part, on one line
    of at most 80 characters."""
    return " ".join(Path(str(name)).name.split())[:80] or default
