"""Errors the CLI and the Python API raise, each with the exit code the CLI returns for it.

Exit codes (documented in README.md):
  0   success
  1   the operation ran and failed (deployment failed on every site tried, delete failed)
  2   invalid template, inputs or site registry (every problem is listed)
  3   not found (unknown deployment id, template, site)
  4   no site can host the deployment
  64  usage error (bad command line, unreadable file)
  70  internal error (a bug: please report it with the output of --debug)
  130 interrupted (Ctrl-C); what was started is recorded and can be retried or deleted
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_NOT_FOUND = 3
EXIT_NO_SITE = 4
EXIT_USAGE = 64
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


class InfnCloudError(Exception):
    """Base class: an error with a message meant for the user and no traceback."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.details = list(details or [])

    def to_dict(self) -> dict:
        return {"error": type(self).__name__, "message": self.message, "details": self.details}


class UsageError(InfnCloudError):
    exit_code = EXIT_USAGE


class ValidationError(InfnCloudError):
    """Invalid template, inputs or registry; `details` holds one line per problem."""

    exit_code = EXIT_INVALID


class NotFoundError(InfnCloudError):
    exit_code = EXIT_NOT_FOUND


class NoSiteError(InfnCloudError):
    exit_code = EXIT_NO_SITE


class OperationFailed(InfnCloudError):
    exit_code = EXIT_FAILED
