"""V1 recordings: the common in-memory form, the virtual monkey, the authors' published layout,
spike-count windows and neural measures."""

from .types import Recordings, SessionRecording

__all__ = ["Recordings", "SessionRecording"]
