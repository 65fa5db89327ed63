"""The two kinds of error: what a user can act on, and what is not the user's doing.

``PaybatchError``: bad input or a missing resource; its message says what to do, and the CLI prints it as one
line (exit 2). ``InternalFailure``: a bug (a status move the contract forbids) or a service that kept failing
after every retry; the CLI prints its traceback and a one-line summary (exit 1), so it can be reported and fixed.
"""

from __future__ import annotations


class PaybatchError(Exception):
    """Base for every error a user can act on; its message says what to do."""


class InternalFailure(Exception):
    """Base for failures that are not the user's doing: bugs, and AWS failures that outlasted every retry."""


class ConfigError(PaybatchError):
    """The configuration file or an override is missing or invalid."""


class LocalStackError(PaybatchError):
    """The local environment could not be started, reached or provisioned."""


class JobArgumentError(PaybatchError):
    """A Glue job was started without a required argument or with a bad value."""
