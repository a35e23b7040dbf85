"""Error families and exit codes.

User mistakes (bad config, bad snapshot, bad query file) are ``UsageError`` and exit 2;
failures of the world (Azure, rendering, verification) are ``RuntimeFailure`` and exit 1.
The CLI is the one place that turns an error into an exit code and one printed line.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2


class ReportgenError(Exception):
    """Base of every error reportgen raises on purpose. ``hint`` says what to do."""

    exit_code = ExitCode.FAILURE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(ReportgenError):
    """The user gave something we cannot use: arguments, config, a file."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """A configuration key or value is wrong; the message names the key."""


class SnapshotError(UsageError):
    """A snapshot folder is unreadable or inconsistent; the message names the file."""


class QueryError(UsageError):
    """A query file or a query parameter is invalid."""


class RuntimeFailure(ReportgenError):
    """Something outside the user's input failed."""


class SourceError(RuntimeFailure):
    """Collection from Azure (or another source) failed."""


class AuthError(SourceError):
    """No usable credential; the hint says how to get one."""


class RenderError(RuntimeFailure):
    """Rendering a pack output failed."""


class VerificationError(RuntimeFailure):
    """A pack does not match its manifest or signature."""
