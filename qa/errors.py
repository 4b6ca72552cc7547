"""Errors that mean "the gate could not run": each becomes one line on stderr and exit code 2."""

from __future__ import annotations


class QAError(Exception):
    """A user-facing error: bad config, unreadable data, refused model. Exit code 2."""

    exit_code = 2


class ConfigError(QAError):
    """A config key is unknown, has the wrong type, or an impossible value."""


class DataError(QAError):
    """A data file is missing or unreadable, or a split cannot be used."""


class ModelError(QAError):
    """A model artifact or prediction file cannot be loaded, or loading it would be unsafe."""


class PluginError(QAError):
    """A check plugin failed to import, is malformed, or reuses an id."""
