"""The errors a user sees as one line: a bad spec or config value, a damaged file, missing data.

`SpecError` carries the key path and the reason as fields, so a caller that knows more of the
path (the config section a spec came from) re-keys it with `under` instead of re-splitting text.
"""

from __future__ import annotations


class SpecError(ValueError):
    """A spec or config value is invalid: `key` (dotted path, '' for the whole), `reason`, and
    the `file` that set it where known."""

    def __init__(self, key: str, reason: str, file: str = ""):
        self.key, self.reason, self.file = key, reason, file
        super().__init__(": ".join(filter(None, (file, key, reason))))

    def under(self, prefix: str) -> SpecError:
        """The same error with its key below `prefix` (e.g. the config section it came from)."""
        return type(self)(join(prefix, self.key), self.reason, self.file)

    def at(self, key: str) -> SpecError:
        """The same reason for another key (a check that names the value, raised for its key)."""
        return type(self)(key, self.reason, self.file)

    def in_file(self, file: str) -> SpecError:
        """The same error, naming the file that set the key."""
        return type(self)(self.key, self.reason, file)


class DataError(SpecError):
    """A dataset file is missing, altered or unreadable; the key is the file."""


class CorruptFileError(RuntimeError):
    """An intermediate file cannot be read; the message names it and the remedy."""


def join(where: str, name) -> str:
    """A dotted key path: join('model', 'cell') -> 'model.cell'; either part may be empty."""
    if not where:
        return str(name)
    return f"{where}.{name}" if name != "" else where


def unknown(key: str, value, choices) -> SpecError:
    """The one message for a value that is not one of the allowed choices."""
    return SpecError(key, f"unknown value {value!r} (expected one of: {', '.join(choices)})")
