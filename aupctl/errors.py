"""The one error type the command line turns into a one-line message and a non-zero exit."""

from __future__ import annotations


class CliError(Exception):
    """A user-facing failure: bad usage, missing stack, port in use. ``str(err)`` is the whole message."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
