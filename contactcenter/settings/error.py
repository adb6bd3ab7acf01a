"""The error every settings module raises."""

from __future__ import annotations


class SettingsError(ValueError):
    """A setting has a wrong name, type or value."""
