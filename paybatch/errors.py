"""Errors a user can act on; the CLI prints them without a traceback."""

from __future__ import annotations


class PaybatchError(Exception):
    """Base for every error paybatch raises on purpose; its message says what to do."""


class ConfigError(PaybatchError):
    """The configuration file or an override is missing or invalid."""


class LocalStackError(PaybatchError):
    """The local environment could not be started, reached or provisioned."""


class JobArgumentError(PaybatchError):
    """A Glue job was started without a required argument or with a bad value."""
