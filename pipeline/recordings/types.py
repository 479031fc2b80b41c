"""The in-memory form of a set of recordings, shared by every importer.

Both the virtual monkey and the importer of the authors' published layout produce a
:class:`Recordings`; the database layer stores it without knowing where it came from.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class SessionRecording:
    monkey: str
    session_id: str
    unit_ids: np.ndarray  # (units,) int, unique within the session
    electrodes: np.ndarray  # (units,) int, channel of the 32-channel depth electrode
    depths_um: np.ndarray  # (units,) float, depth relative to a reference contact (micrometres)
    trial_types: list[str]  # per trial: "train" or "test"
    trial_images: list[list[int]]  # per trial: the image ids in presentation order
    spikes: np.ndarray  # (trials, units, bins) float32 spike counts in fine bins; NaN = not recorded
    bin_width_ms: float  # width of one bin
    bin_origin_ms: float  # start of bin 0 relative to the onset of the trial's first image
    image_duration_ms: float  # each image is on for this long; image k starts at k * duration
    true_rates: np.ndarray | None = None  # (units, images) spikes/s of the ground truth (virtual only)

    def validate(self, n_images: int) -> None:
        units = len(self.unit_ids)
        for name in ("electrodes", "depths_um"):
            if len(getattr(self, name)) != units:
                raise ValueError(f"session {self.session_id}: {name} has {len(getattr(self, name))} entries for {units} units")
        if len(set(np.asarray(self.unit_ids).tolist())) != units:
            raise ValueError(f"session {self.session_id}: unit_ids are not unique")
        if self.spikes.ndim != 3 or self.spikes.shape[:2] != (len(self.trial_types), units):
            raise ValueError(
                f"session {self.session_id}: spikes have shape {self.spikes.shape}, "
                f"expected ({len(self.trial_types)} trials, {units} units, bins)"
            )
        if len(self.trial_images) != len(self.trial_types):
            raise ValueError(f"session {self.session_id}: {len(self.trial_images)} image lists for {len(self.trial_types)} trials")
        if self.true_rates is not None and self.true_rates.shape != (units, n_images):
            raise ValueError(f"session {self.session_id}: true_rates have shape {self.true_rates.shape}, expected {(units, n_images)}")


@dataclasses.dataclass
class Recordings:
    source: str  # "virtual" or "monkey"
    description: str
    images: np.ndarray  # (images, 64, 64) uint8: stimuli as the model sees them (14 ppd)
    image_ids: np.ndarray  # (images,) int
    image_roles: list[str]  # per image: "train" or "test"
    sessions: list[SessionRecording]
    parameters: dict = dataclasses.field(default_factory=dict)  # how it was made (JSON values)

    def validate(self) -> None:
        n = len(self.image_ids)
        if self.images.shape[0] != n or len(self.image_roles) != n:
            raise ValueError(f"{n} image ids, {self.images.shape[0]} images and {len(self.image_roles)} roles")
        if self.images.dtype != np.uint8 or self.images.ndim != 3:
            raise ValueError(f"images must be a (n, h, w) uint8 array, not {self.images.dtype} {self.images.shape}")
        known = set(np.asarray(self.image_ids).tolist())
        if len(known) != n:
            raise ValueError("image ids are not unique")
        names = [s.session_id for s in self.sessions]
        if len(set(names)) != len(names):
            raise ValueError("session ids are not unique")
        for session in self.sessions:
            session.validate(n)
            shown = {i for trial in session.trial_images for i in trial}
            unknown = shown - known
            if unknown:
                raise ValueError(f"session {session.session_id}: trials show unknown image ids {sorted(unknown)[:5]}")
