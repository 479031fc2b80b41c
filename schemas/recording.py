"""V1 recordings: monkeys, sessions, units, stimuli, trials, spikes, spike counts, neural datasets.

A recording set is imported in one transaction (:func:`ingest`), from the virtual monkey
or from the authors' published layout; if anything is wrong nothing is kept. Spike counts
per response window are computed from the fine-binned trial spikes; a neural dataset
selects sessions of one set and fixes the train / validation split by image id.
"""

from __future__ import annotations

import numpy as np
import datajoint as dj

from pipeline.recordings import Recordings
from pipeline.data.dataloaders import NeuralData
from pipeline.recordings.dataset import neural_dataloaders, split_image_ids
from pipeline.recordings.spike_counts import window_counts

from .connection import make_schema

schema = make_schema("recording")


class IngestError(ValueError):
    """An import that was refused; nothing of it was stored."""


@schema
class RecordingSet(dj.Manual):
    definition = """
    # one imported set of recordings (a virtual monkey, or the authors' published data)
    recording_set : varchar(32)          # name given at import
    ---
    source : enum('virtual', 'monkey')   # simulator or real recordings
    description : varchar(255)           # where it came from
    parameters : json                    # simulator size and seed, or import path and resolutions (ppd)
    imported_at = CURRENT_TIMESTAMP : datetime  # server time of the import
    """


@schema
class Monkey(dj.Manual):
    definition = """
    # a recorded (or simulated) animal
    -> RecordingSet
    monkey : varchar(32)                 # subject id
    """


@schema
class Session(dj.Manual):
    definition = """
    # one recording session: one electrode penetration, ~1000 trials
    -> Monkey
    session_id : varchar(32)             # session name, unique within the recording set
    ---
    n_units : int32                      # units recorded in this session
    n_trials : int32                     # trials (for the published layout: presentations)
    bin_width_ms : float32               # width of the fine spike-count bins (ms)
    bin_origin_ms : float32              # start of bin 0 after the onset of the trial's first image (ms)
    image_duration_ms : float32          # each image is shown this long (ms); image k starts at k * duration
    """

    class Unit(dj.Part):
        definition = """
        # a unit recorded in the session (units not recorded are absent)
        -> master
        unit_id : int32                  # unit number within the session
        ---
        unit_index : int32               # row of this unit in the session's spike arrays
        electrode : int16                # channel of the 32-channel depth electrode
        depth_um : float32               # depth relative to the reference contact (micrometres)
        """


@schema
class Stimuli(dj.Manual):
    definition = """
    # the stimulus images of a recording set, as the models see them
    -> RecordingSet
    ---
    images : <npy@artifacts>             # (images, px, px) uint8, cropped and downscaled to model resolution
    image_px : int16                     # side of the model images (px)
    model_ppd : float32                  # pixels per degree of the model images
    stimulus_ppd : float32               # pixels per degree of the images the monkey saw
    """

    class Image(dj.Part):
        definition = """
        # one stimulus image
        -> master
        image_id : int32                 # image id of the experiment
        ---
        role : enum('train', 'test')     # training image or repeated test image
        image_index : int32              # row in the images array
        """


@schema
class Trial(dj.Manual):
    definition = """
    # one trial: images shown in sequence
    -> Session
    trial_idx : int32                    # trial number in presentation order (0-based)
    ---
    trial_type : enum('train', 'test')   # random training images or a fixed-order test trial
    image_ids : json                     # image ids in presentation order
    """


@schema
class TrialSpikes(dj.Manual):
    definition = """
    # fine-binned spike counts of every trial of a session
    -> Session
    ---
    spikes : <npy@artifacts>             # (trials, units, bins) float32 spike counts; NaN = not recorded
    n_bins : int32                       # bins per trial
    """


@schema
class VirtualTruth(dj.Manual):
    definition = """
    # noise-free rates of a virtual session's units (the ground truth for noise ceilings)
    -> Session
    ---
    true_rates : <npy@artifacts>         # (units, images) float32 spikes/s, rows as Session.Unit.unit_index, columns as Stimuli.Image.image_index
    """


@schema
class ResponseWindow(dj.Lookup):
    definition = """
    # a spike-count window after image onset
    response_window : varchar(16)        # name, e.g. '40-160'
    ---
    window_start_ms : float32            # start after image onset (ms)
    window_end_ms : float32              # end after image onset (ms)
    """
    contents = [("40-160", 40.0, 160.0)]


@schema
class SpikeCount(dj.Computed):
    definition = """
    # spike counts per image presentation in a response window
    -> Session
    -> ResponseWindow
    ---
    counts : <npy@artifacts>             # (presentations, units) float32 spike counts; NaN = not recorded
    image_ids : <npy@artifacts>          # (presentations,) int32 image shown
    trial_idx : <npy@artifacts>          # (presentations,) int32 trial of the presentation
    n_presentations : int32              # number of presentations
    mean_rate_hz : float32               # mean count over units and presentations / window length (spikes/s)
    """

    def make(self, key):
        session = (Session & key).fetch1()
        spikes = (TrialSpikes & key).fetch1("spikes")
        trials = (Trial & key).to_dicts(order_by="trial_idx")
        self.insert1(self.row(key, np.asarray(spikes), [t["image_ids"] for t in trials], float(session["bin_width_ms"]),
                              float(session["bin_origin_ms"]), float(session["image_duration_ms"])))

    @staticmethod
    def row(key, spikes: np.ndarray, trial_images, bin_width_ms: float, bin_origin_ms: float, image_duration_ms: float) -> dict:
        """The row of one session and window, from its stored (float32) fine-binned spikes."""
        start, end = (ResponseWindow & key).fetch1("window_start_ms", "window_end_ms")
        result = window_counts(spikes, trial_images, (float(start), float(end)), bin_width_ms, bin_origin_ms, image_duration_ms)
        counts = result["counts"]
        return {
            **{k: key[k] for k in ("recording_set", "monkey", "session_id", "response_window")},
            "counts": counts,
            "image_ids": result["image_ids"],
            "trial_idx": result["trial"],
            "n_presentations": len(counts),
            "mean_rate_hz": float(np.nanmean(counts) / ((end - start) / 1000.0)) if counts.size else 0.0,
        }


@schema
class NeuralDataset(dj.Manual):
    definition = """
    # sessions of one recording set in one response window, with a fixed train/validation/test split
    neural_dataset : varchar(32)         # name
    ---
    -> RecordingSet
    -> ResponseWindow
    validation_fraction : float32        # share of the training images held out for validation
    split_seed : int32                   # seed of the split
    """

    class Session(dj.Part):
        definition = """
        # a session in the dataset
        -> master
        -> SpikeCount
        """

    class Image(dj.Part):
        definition = """
        # the split of an image, shared by all sessions
        -> master
        -> Stimuli.Image
        ---
        split : enum('train', 'validation', 'test')  # training, validation (held out from training images) or test
        """

    @classmethod
    def create(cls, name: str, recording_set: str, response_window: str = "40-160", sessions=None,
               validation_fraction: float = 0.2, split_seed: int = 0) -> dict:
        """Define a dataset (computing the spike counts it needs first) and return its key."""
        key = {"neural_dataset": name}
        if cls & key:
            raise IngestError(f"neural dataset {name!r} exists already")
        if not (RecordingSet & {"recording_set": recording_set}):
            raise IngestError(f"no recording set {recording_set!r}")
        if not (ResponseWindow & {"response_window": response_window}):
            raise IngestError(f"no response window {response_window!r}; windows are {ResponseWindow().to_arrays('response_window').tolist()}")
        chosen = Session & {"recording_set": recording_set}
        if sessions is not None:
            chosen = chosen & [{"session_id": s} for s in sessions]
            missing = set(sessions) - set(chosen.to_arrays("session_id").tolist())
            if missing:
                raise IngestError(f"recording set {recording_set!r} has no session(s) {sorted(missing)}")
        window = {"response_window": response_window}
        # reserved jobs: a worker populating SpikeCount at the same time takes other sessions
        SpikeCount.populate(chosen.proj() * ResponseWindow.proj() & window, reserve_jobs=True)
        missing = len(chosen) - len(SpikeCount & chosen.proj() & window)
        if missing:
            raise IngestError(f"neural dataset {name!r}: the spike counts of {missing} session(s) are not made yet "
                              "(another worker holds them); try again when it is done")
        with cls.connection.transaction:
            cls._insert(name, recording_set, response_window, chosen.proj().to_dicts(), validation_fraction, split_seed)
        return key

    @classmethod
    def _insert(cls, name: str, recording_set: str, response_window: str, sessions: list[dict],
                validation_fraction: float, split_seed: int) -> None:
        """The dataset's rows (inside the caller's transaction); the split is by image id."""
        key, window = {"neural_dataset": name}, {"response_window": response_window}
        images = (Stimuli.Image & {"recording_set": recording_set}).to_dicts()
        roles = split_image_ids(
            [i["image_id"] for i in images if i["role"] == "train"],
            [i["image_id"] for i in images if i["role"] == "test"],
            validation_fraction,
            split_seed,
        )
        cls.insert1({**key, "recording_set": recording_set, **window,
                     "validation_fraction": validation_fraction, "split_seed": split_seed})
        cls.Session.insert([{**key, **s, **window} for s in sessions])
        cls.Image.insert([{**key, "recording_set": recording_set, "image_id": i, "split": role} for i, role in roles.items()])

    def data_description(self, key) -> tuple[str, dict]:
        """A small description of the dataset (what ``TrainedModelBase.make_fetch`` reads)."""
        row = (NeuralDataset & key).fetch1()
        sessions = sorted((NeuralDataset.Session & key).to_arrays("session_id").tolist())
        return "neural_dataset", {
            "recording_set": row["recording_set"], "response_window": row["response_window"],
            "validation_fraction": float(row["validation_fraction"]), "split_seed": int(row["split_seed"]),
            "sessions": sessions,
        }

    def build(self, key, seed: int | None = None) -> NeuralData:
        """Tensors for training and evaluation (see ``pipeline.recordings.dataset``)."""
        key = (NeuralDataset & key).fetch1("KEY")
        recording_set = (NeuralDataset & key).fetch1("recording_set")
        stimuli = Stimuli & {"recording_set": recording_set}
        images = np.asarray(stimuli.fetch1("images"))
        index = (Stimuli.Image & {"recording_set": recording_set}).to_dicts(order_by="image_index")
        image_ids = np.array([row["image_id"] for row in index])
        roles = {row["image_id"]: row["split"] for row in (NeuralDataset.Image & key).to_dicts()}
        sessions = {}
        for row in ((SpikeCount * NeuralDataset.Session) & key).to_dicts(order_by="session_id"):
            sessions[readout_name(row["session_id"])] = (np.asarray(row["counts"]), np.asarray(row["image_ids"]))
        return neural_dataloaders(images, image_ids, roles, sessions)


def readout_name(session_id: str) -> str:
    """Session ids name the readouts of a model (torch module names cannot contain dots)."""
    return session_id.replace(".", "_")


def ingest(recordings: Recordings, name: str, response_window: str = "40-160", validation_fraction: float = 0.2,
           split_seed: int = 0) -> dict:
    """Store a whole recording set, its spike counts in ``response_window`` and the neural
    dataset of the same name in one transaction; on any error, or if the process is killed,
    nothing is kept (files uploaded before the rollback are unreferenced and go with gc).

    The spike counts are part of the transaction, so a ``--forever`` worker never sees the
    sessions without them and cannot take their jobs halfway through an import.
    """
    key = {"recording_set": name}
    if not name or len(name) > 32:
        raise IngestError(f"recording set name {name!r} must have 1-32 characters")
    if RecordingSet & key:
        raise IngestError(f"recording set {name!r} exists already")
    try:
        recordings.validate()
    except ValueError as err:
        raise IngestError(f"recording set {name!r}: {err}") from None
    if NeuralDataset & {"neural_dataset": name}:
        raise IngestError(f"neural dataset {name!r} exists already")
    window_key = {"response_window": response_window}
    if not (ResponseWindow & window_key):
        raise IngestError(f"no response window {response_window!r}")
    counts = {}
    for s in recordings.sessions:
        skey = {**key, "monkey": s.monkey, "session_id": s.session_id, **window_key}
        try:  # from the float32 spikes that are stored, as SpikeCount.make would compute them
            counts[s.session_id] = SpikeCount.row(skey, s.spikes.astype(np.float32), s.trial_images, s.bin_width_ms,
                                                  s.bin_origin_ms, s.image_duration_ms)
        except ValueError as err:
            raise IngestError(f"session {s.session_id}, field spikes: {err}") from None
    conn = RecordingSet.connection
    with conn.transaction:
        RecordingSet.insert1({**key, "source": recordings.source, "description": recordings.description[:255],
                              "parameters": recordings.parameters})
        Monkey.insert([{**key, "monkey": m} for m in sorted({s.monkey for s in recordings.sessions})])
        Stimuli.insert1({
            **key,
            "images": recordings.images,
            "image_px": int(recordings.images.shape[-1]),
            "model_ppd": float(recordings.parameters.get("model_ppd", 14.0)),
            "stimulus_ppd": float(recordings.parameters.get("stimulus_ppd", 14.0)),
        })
        Stimuli.Image.insert([
            {**key, "image_id": int(i), "role": role, "image_index": r}
            for r, (i, role) in enumerate(zip(recordings.image_ids.tolist(), recordings.image_roles))
        ])
        for s in recordings.sessions:
            skey = {**key, "monkey": s.monkey, "session_id": s.session_id}
            Session.insert1({**skey, "n_units": len(s.unit_ids), "n_trials": len(s.trial_types),
                             "bin_width_ms": s.bin_width_ms, "bin_origin_ms": s.bin_origin_ms,
                             "image_duration_ms": s.image_duration_ms})
            Session.Unit.insert([
                {**skey, "unit_id": int(u), "unit_index": i, "electrode": int(e), "depth_um": float(d)}
                for i, (u, e, d) in enumerate(zip(s.unit_ids, s.electrodes, s.depths_um))
            ])
            Trial.insert([
                {**skey, "trial_idx": t, "trial_type": kind, "image_ids": [int(i) for i in images]}
                for t, (kind, images) in enumerate(zip(s.trial_types, s.trial_images))
            ])
            TrialSpikes.insert1({**skey, "spikes": s.spikes.astype(np.float32), "n_bins": int(s.spikes.shape[2])})
            if s.true_rates is not None:  # columns already follow recordings.image_ids = image_index
                VirtualTruth.insert1({**skey, "true_rates": s.true_rates.astype(np.float32)})
            SpikeCount().insert1(counts[s.session_id], allow_direct_insert=True)
        sessions = [{**key, "monkey": s.monkey, "session_id": s.session_id} for s in recordings.sessions]
        NeuralDataset._insert(name, name, response_window, sessions, validation_fraction, split_seed)
    return key
