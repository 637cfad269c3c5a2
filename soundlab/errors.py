"""Typed errors of the core. Every error a user can cause is one of these, with a one-line message for them.

Pages and the CLI catch `SoundLabError` (and only that) and show its message; anything else is a bug and
propagates. Each class also derives from the built-in it refines, so plain callers can catch `ValueError`.
"""

from __future__ import annotations


class SoundLabError(Exception):
    """Base class of every error the core raises on purpose; the message is for the user."""


class SettingsError(SoundLabError, ValueError):
    """An environment setting (SOUNDLAB_*) that cannot be used; the message names the variable."""


class AudioError(SoundLabError, ValueError):
    """Audio that cannot be used: missing, undecodable, empty, silent, non-finite, too long, odd rate."""


class DatasetError(SoundLabError, ValueError):
    """A missing or malformed ESC-50 folder or metadata file, or an unknown clip name."""


class DownloadError(SoundLabError, RuntimeError):
    """A download that could not finish (offline, dropped, corrupt); nothing was put in place."""


class ParameterError(SoundLabError, ValueError):
    """An argument outside its valid range (e.g. win_length > n_fft)."""


class ModelError(SoundLabError, RuntimeError):
    """A model that cannot be loaded or used (missing, corrupt, offline, mismatched, unknown); says what to do."""


class RunError(ModelError):
    """A run folder that cannot be used as it is; the message says which file and why."""
