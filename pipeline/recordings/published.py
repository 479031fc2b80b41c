"""The authors' published layout of V1 recordings: reading it safely, and writing it.

    <dataset>/neuronal_data/*.pickle   one dict per session
    <dataset>/images/<id:06d>.npy      one grayscale image per id

Session fields: ``session_id``, ``subject_id``, ``unit_ids``, ``electrode_nums``,
``relative_micron_depth`` (one per unit); ``training_responses`` and ``testing_responses``
(units, time_bins, presentations) in 10 ms bins from 40 ms after image onset;
``training_image_ids`` and ``testing_image_ids`` (one per presentation).

Pickles can run code when loaded, so they are read with an unpickler that only builds
numpy arrays, lists, dicts, numbers and strings.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

from .spike_counts import window_bins
from .stimuli import MODEL_PPD, MODEL_PX, crop_and_downscale
from .types import Recordings, SessionRecording

REQUIRED = (
    "session_id",
    "subject_id",
    "unit_ids",
    "electrode_nums",
    "relative_micron_depth",
    "training_responses",
    "testing_responses",
    "training_image_ids",
    "testing_image_ids",
)
BIN_WIDTH_MS = 10.0
BIN_ORIGIN_MS = 40.0  # bin 0 starts 40 ms after image onset
IMAGE_DURATION_MS = 120.0

# (module, name) pairs that numpy's own pickles need, and nothing else
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # protocol-2 pickles carry array bytes as latin-1 text
}


class RecordingFormatError(ValueError):
    """A file of the published layout that cannot be imported; the message names file and field."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refers to {module}.{name}, which is not a numpy array, list, dict, number or string")


def safe_load(path: Path):
    try:
        with open(path, "rb") as handle:
            return _RestrictedUnpickler(handle).load()
    except pickle.UnpicklingError as err:
        raise RecordingFormatError(f"{path}: unsafe or invalid pickle: {err}") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise RecordingFormatError(f"{path}: not a readable pickle ({type(err).__name__}: {err})") from None


def _field(data: dict, path: Path, name: str, ndim: int | None = None) -> np.ndarray:
    if name not in data:
        raise RecordingFormatError(f"{path}: missing field {name!r}")
    value = data[name]
    if ndim is None:
        return value
    try:
        array = np.asarray(value)
    except Exception as err:  # ragged lists
        raise RecordingFormatError(f"{path}: field {name!r} is not an array ({err})") from None
    if array.ndim != ndim:
        raise RecordingFormatError(f"{path}: field {name!r} has {array.ndim} dimensions, expected {ndim} (shape {array.shape})")
    return array


def _read_session(path: Path) -> tuple[SessionRecording, np.ndarray, np.ndarray]:
    data = safe_load(path)
    if not isinstance(data, dict):
        raise RecordingFormatError(f"{path}: expected a dict of fields, found {type(data).__name__}")
    unit_ids = _field(data, path, "unit_ids", 1).astype(np.int64)
    units = len(unit_ids)
    electrodes = _field(data, path, "electrode_nums", 1)
    depths = _field(data, path, "relative_micron_depth", 1)
    for name, value in (("electrode_nums", electrodes), ("relative_micron_depth", depths)):
        if len(value) != units:
            raise RecordingFormatError(f"{path}: field {name!r} has {len(value)} entries for {units} units in 'unit_ids'")
    blocks = {}
    for role in ("training", "testing"):
        responses = _field(data, path, f"{role}_responses", 3).astype(np.float32)
        ids = _field(data, path, f"{role}_image_ids", 1).astype(np.int64)
        if responses.shape[0] != units:
            raise RecordingFormatError(f"{path}: field '{role}_responses' has {responses.shape[0]} units, 'unit_ids' has {units}")
        if responses.shape[2] != len(ids):
            raise RecordingFormatError(
                f"{path}: field '{role}_responses' has {responses.shape[2]} presentations, '{role}_image_ids' has {len(ids)}"
            )
        blocks[role] = (responses, ids)
    if blocks["training"][0].shape[1] != blocks["testing"][0].shape[1]:
        raise RecordingFormatError(f"{path}: 'training_responses' and 'testing_responses' have different numbers of time bins")
    responses = np.concatenate([blocks["training"][0], blocks["testing"][0]], axis=2)
    all_nan = np.isnan(responses).all(axis=(1, 2))
    if all_nan.any():
        raise RecordingFormatError(
            f"{path}: field 'training_responses'/'testing_responses' holds only NaN for unit(s) {unit_ids[all_nan].tolist()}"
        )
    train_ids, test_ids = blocks["training"][1], blocks["testing"][1]
    session = SessionRecording(
        monkey=str(_field(data, path, "subject_id")),
        session_id=str(_field(data, path, "session_id")),
        unit_ids=unit_ids,
        electrodes=np.asarray(electrodes).astype(np.int64),
        depths_um=np.asarray(depths).astype(np.float64),
        trial_types=["train"] * len(train_ids) + ["test"] * len(test_ids),
        trial_images=[[int(i)] for i in np.concatenate([train_ids, test_ids])],
        spikes=np.ascontiguousarray(responses.transpose(2, 0, 1)),  # (presentations, units, bins)
        bin_width_ms=BIN_WIDTH_MS,
        bin_origin_ms=BIN_ORIGIN_MS,
        image_duration_ms=IMAGE_DURATION_MS,
    )
    return session, train_ids, test_ids


def _read_image(path: Path) -> np.ndarray:
    if not path.exists():
        raise RecordingFormatError(f"{path}: image file is missing")
    try:
        image = np.load(path, allow_pickle=False)
    except Exception as err:
        raise RecordingFormatError(f"{path}: not a readable .npy image ({type(err).__name__}: {err})") from None
    if image.ndim == 3 and image.shape[-1] in (1, 3):
        image = image.mean(axis=-1) if image.shape[-1] == 3 else image[..., 0]
    if image.ndim != 2:
        raise RecordingFormatError(f"{path}: image has shape {image.shape}, expected a 2-D grayscale image")
    image = image.astype(np.float64)
    if not np.isfinite(image).all():
        raise RecordingFormatError(f"{path}: image contains NaN or infinite values")
    return image


#: the pixel ranges image files may be stored in, and the factor that maps each to [0, 255]
PIXEL_RANGES = {"0-255": 1.0, "0-1": 255.0}


def _to_grey_levels(images: np.ndarray, pixel_range: str, folder: Path) -> np.ndarray:
    """Images in [0, 255], from files stored in ``pixel_range``; data outside it are an error."""
    if pixel_range not in PIXEL_RANGES:
        raise RecordingFormatError(f"pixel range {pixel_range!r} is not one of {sorted(PIXEL_RANGES)}")
    low, high = float(images.min()), float(images.max())
    top = 255.0 / PIXEL_RANGES[pixel_range]
    if low < 0 or high > top:
        raise RecordingFormatError(f"{folder}: pixel values span [{low:g}, {high:g}], outside the declared range "
                                   f"{pixel_range}; pass the range the files are stored in (--pixel-range)")
    if pixel_range == "0-255" and high <= 1.0:
        raise RecordingFormatError(f"{folder}: every pixel value lies in [{low:g}, {high:g}]: the files look stored in "
                                   "[0, 1], not the declared 0-255; pass --pixel-range 0-1")
    return images * PIXEL_RANGES[pixel_range]


def read_published(root: str | Path, ppd: float = 63.0, ppd_out: float = MODEL_PPD, out_px: int = MODEL_PX,
                   pixel_range: str = "0-255") -> Recordings:
    """Read and validate the whole layout; raise :class:`RecordingFormatError` on the first problem.

    ``pixel_range`` is how the image files store grey levels: ``0-255`` or ``0-1``. Nothing
    is guessed: values outside the declared range, or a 0-255 set whose values all lie in
    [0, 1], are an error that says which range to declare."""
    root = Path(root)
    folder = root / "neuronal_data"
    files = sorted(folder.glob("*.pickle"))
    if not files:
        raise RecordingFormatError(f"{folder}: no session files (*.pickle)")
    sessions, train, test = [], set(), set()
    for path in files:
        session, train_ids, test_ids = _read_session(path)
        sessions.append(session)
        train.update(train_ids.tolist())
        test.update(test_ids.tolist())
    both = train & test
    if both:
        raise RecordingFormatError(f"{folder}: image ids {sorted(both)[:5]} are both training and test images")
    image_ids = np.array(sorted(train | test), dtype=np.int64)
    shapes, native = set(), []
    for image_id in image_ids:
        image = _read_image(root / "images" / f"{image_id:06d}.npy")
        shapes.add(image.shape)
        if len(shapes) > 1:
            raise RecordingFormatError(f"{root / 'images'}: images have different shapes {sorted(shapes)}")
        native.append(image)
    native = _to_grey_levels(np.stack(native), pixel_range, root / "images")
    try:
        images = crop_and_downscale(native, ppd, ppd_out, out_px)
    except ValueError as err:
        raise RecordingFormatError(f"{root / 'images'}: {err}") from None
    recordings = Recordings(
        source="monkey",
        description=f"recordings imported from {root}",
        images=images,
        image_ids=image_ids,
        image_roles=["test" if i in test else "train" for i in image_ids.tolist()],
        sessions=sessions,
        parameters={"path": str(root.resolve()), "stimulus_ppd": ppd, "model_ppd": ppd_out, "model_px": out_px,
                    "pixel_range": pixel_range,
                    "bin_width_ms": BIN_WIDTH_MS, "bin_origin_ms": BIN_ORIGIN_MS},
    )
    try:
        recordings.validate()
    except ValueError as err:
        raise RecordingFormatError(f"{root}: {err}") from None
    return recordings


def write_published(recordings: Recordings, root: str | Path) -> Path:
    """Write recordings in the published layout (12 bins of 10 ms from 40 ms after onset).

    Images are written at model resolution, so import them back with ``ppd=14``.
    """
    root = Path(root)
    (root / "neuronal_data").mkdir(parents=True, exist_ok=True)
    (root / "images").mkdir(parents=True, exist_ok=True)
    for image_id, image in zip(recordings.image_ids, recordings.images):
        np.save(root / "images" / f"{int(image_id):06d}.npy", image)
    for session in recordings.sessions:
        blocks = {"train": ([], []), "test": ([], [])}
        n_bins = session.spikes.shape[2]
        for t, (kind, images) in enumerate(zip(session.trial_types, session.trial_images)):
            for k, image_id in enumerate(images):
                onset = k * session.image_duration_ms
                bins = window_bins(onset, (40.0, 160.0), session.bin_width_ms, session.bin_origin_ms, n_bins)
                fine = session.spikes[t, :, bins]  # (units, bins of the session's width)
                per10 = fine.reshape(fine.shape[0], 12, -1).sum(axis=2) if session.bin_width_ms < 10 else fine
                blocks[kind][0].append(per10)
                blocks[kind][1].append(image_id)
        data = {
            "session_id": session.session_id,
            "subject_id": session.monkey,
            "unit_ids": np.asarray(session.unit_ids),
            "electrode_nums": np.asarray(session.electrodes),
            "relative_micron_depth": np.asarray(session.depths_um),
            "training_responses": np.stack(blocks["train"][0], axis=2),
            "testing_responses": np.stack(blocks["test"][0], axis=2),
            "training_image_ids": np.asarray(blocks["train"][1]),
            "testing_image_ids": np.asarray(blocks["test"][1]),
        }
        with open(root / "neuronal_data" / f"{session.session_id}.pickle", "wb") as handle:
            pickle.dump(data, handle, protocol=4)
    return root
