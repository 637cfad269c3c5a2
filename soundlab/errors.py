"""Typed errors of the core. Pages catch these (and only these) and show their message."""

from __future__ import annotations


class SoundLabError(Exception):
    """Base class of every error the core raises on purpose; the message is for the user."""


class AudioError(SoundLabError, ValueError):
    """Audio that cannot be used: undecodable, empty, silent, non-finite, too long, odd rate."""


class DatasetError(SoundLabError, ValueError):
    """A missing or malformed ESC-50 folder or metadata file, or an unknown clip name."""


class DownloadError(SoundLabError, RuntimeError):
    """A download that could not finish (offline, dropped, corrupt); nothing was put in place."""


class ParameterError(SoundLabError, ValueError):
    """A setting or argument outside its valid range (e.g. win_length > n_fft)."""
