"""The authors' published layout of V1 recordings: reading it safely, and writing it.

    <dataset>/neuronal_data/*.pickle   one dict per session
    <dataset>/images/<id:06d>.npy      one grayscale image per id

Session fields: ``session_id``, ``subject_id``, ``unit_ids``, ``electrode_nums``,
``relative_micron_depth`` (one per unit); ``training_responses`` and ``testing_responses``
(units, time_bins, presentations) in 10 ms bins from 40 ms after image onset;
``training_image_ids`` and ``testing_image_ids`` (one per presentation).

Pickles can run code when loaded, so they are read with an unpickler that only builds
plain numeric numpy arrays, lists, dicts, numbers and strings: numpy's constructors are
replaced by stand-ins that check dtype (by name, no structured or object dtypes), shape and
byte length before an array is made, an array without state is refused, the only codec
call allowed is latin-1 text to bytes, and a file larger than ``MAX_SESSION_BYTES`` is not
read. Any crafted file gets the same one-line error as any other bad file.
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

#: the largest session file read (bytes); a real session is a few hundred MB
MAX_SESSION_BYTES = 4 * 2**30
#: plain numeric dtypes a session's arrays may have, by name; no structured or object dtypes
ALLOWED_DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                            "float16", "float32", "float64"})


class RecordingFormatError(ValueError):
    """A file of the published layout that cannot be imported; the message names file and field."""


class _Refused(pickle.UnpicklingError):
    pass


class _Dtype:
    """Stands in for ``numpy.dtype(name, align, copy)`` until its state says it is plain."""

    def __init__(self, name, align=False, copy=True):
        if not isinstance(name, str):
            raise _Refused(f"a dtype named by {type(name).__name__}, not by a name")
        try:
            dtype = np.dtype(name)
        except TypeError as err:
            raise _Refused(f"unknown dtype {name!r} ({err})") from None
        if dtype.name not in ALLOWED_DTYPES:
            raise _Refused(f"dtype {name!r} is not a plain numeric dtype")
        self.dtype = dtype

    def __setstate__(self, state):
        # (version, byte order, subarray, names, fields, elsize, alignment, flags)
        if not isinstance(state, tuple) or len(state) < 5 or any(v is not None for v in state[2:5]):
            raise _Refused("structured or sub-array dtypes are refused")
        order = state[1]
        if order not in ("<", ">", "|", "="):
            raise _Refused(f"dtype byte order {order!r}")
        self.dtype = self.dtype.newbyteorder(order) if order in "<>" else self.dtype


def _plain_dtype(value) -> np.dtype:
    if not isinstance(value, _Dtype):
        raise _Refused(f"an array whose dtype is a {type(value).__name__}")
    return value.dtype


def _checked_array(shape, dtype: np.dtype, data, fortran: bool = False) -> np.ndarray:
    """An array built only after its byte length is checked against shape x itemsize."""
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape) or len(shape) > 32:
        raise _Refused(f"array shape {shape!r}")
    if isinstance(data, pickle.PickleBuffer):
        data = data.raw().tobytes()
    if not isinstance(data, (bytes, bytearray)):
        raise _Refused(f"array data of type {type(data).__name__}, not bytes")
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if expected != len(data):
        raise _Refused(f"array of shape {shape} and dtype {dtype.name} needs {expected} bytes, the file holds {len(data)}")
    return np.frombuffer(bytes(data), dtype=dtype).reshape(shape, order="F" if fortran else "C").copy()


class _Array:
    """Stands in for ``numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')``; the array is
    built by ``__setstate__`` from checked state, and an array without state is refused."""

    def __init__(self, cls, shape, typecode):
        if cls is not _NDARRAY:
            raise _Refused("_reconstruct of something other than numpy.ndarray")
        self.array = None

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) != 5:
            raise _Refused("array state of an unknown form")
        _version, shape, dtype, fortran, data = state
        self.array = _checked_array(shape, _plain_dtype(dtype), data, bool(fortran))


def _scalar(dtype, data=None):
    dtype = _plain_dtype(dtype)
    if not isinstance(data, (bytes, bytearray)) or len(data) != dtype.itemsize:
        raise _Refused(f"a {dtype.name} scalar needs {dtype.itemsize} bytes")
    return np.frombuffer(bytes(data), dtype=dtype)[0]


def _frombuffer(buffer, dtype, shape, order="C"):
    """Protocol-5 arrays: ``numpy._core.numeric._frombuffer(buffer, dtype, shape, order)``."""
    return _checked_array(tuple(shape) if isinstance(shape, (tuple, list)) else shape, _plain_dtype(dtype), buffer,
                          order == "F")


def _encode(text, encoding="utf-8"):
    """Protocol-2 pickles carry array bytes as latin-1 text; no other codec is run."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Refused(f"codec call _codecs.encode(..., {encoding!r})")
    return text.encode("latin1")


_NDARRAY = object()  # numpy.ndarray as an argument of _reconstruct; never instantiated
_STAND_INS = {
    ("numpy.core.multiarray", "_reconstruct"): _Array,
    ("numpy._core.multiarray", "_reconstruct"): _Array,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _Dtype,
    ("_codecs", "encode"): _encode,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Builds only dicts, lists, tuples, numbers, strings and plain numeric arrays; numpy's
    own constructors are never called on the file's data (stand-ins check it first)."""

    def find_class(self, module, name):
        if (module, name) in _STAND_INS:
            return _STAND_INS[(module, name)]
        raise _Refused(f"refers to {module}.{name}, which is not a numpy array, list, dict, number or string")


def _resolve(value):
    """Replace the array stand-ins by their arrays, without recursion (crafted nesting is deep)."""
    def swap(item):
        if isinstance(item, _Array):
            if item.array is None:
                raise _Refused("an array without state (_reconstruct without BUILD)")
            return item.array
        if isinstance(item, _Dtype):
            return item.dtype
        if isinstance(item, tuple):  # immutable: rebuilt (deep nesting ends in RecursionError, reported)
            return tuple(swap(x) for x in item)
        return item

    root = [value]
    stack = [root]
    seen = set()
    while stack:
        container = stack.pop()
        if id(container) in seen:
            continue
        seen.add(id(container))
        if isinstance(container, dict):
            for k in list(container):
                container[k] = swap(container[k])
                if isinstance(container[k], (dict, list)):
                    stack.append(container[k])
        elif isinstance(container, list):
            for i, item in enumerate(container):
                container[i] = swap(item)
                if isinstance(container[i], (dict, list)):
                    stack.append(container[i])
    return root[0]


def safe_load(path: Path):
    """A session file's content, or a one-line :class:`RecordingFormatError` for any file that
    is not a plain pickle of the layout (whatever its bytes: crafted files included)."""
    try:
        size = path.stat().st_size
        if size > MAX_SESSION_BYTES:
            raise RecordingFormatError(f"{path}: {size} bytes, more than the {MAX_SESSION_BYTES} a session file may have")
        with open(path, "rb") as handle:
            data = handle.read(MAX_SESSION_BYTES + 1)
        return _resolve(_RestrictedUnpickler(io.BytesIO(data)).load())
    except RecordingFormatError:
        raise
    except pickle.UnpicklingError as err:
        raise RecordingFormatError(f"{path}: unsafe or invalid pickle: {err}") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, OverflowError, MemoryError,
            RecursionError, UnicodeError) as err:
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


#: the largest image file read (bytes): a 4096 x 4096 float64 image
MAX_IMAGE_BYTES = 4096 * 4096 * 8 + 4096


def _read_image(path: Path) -> np.ndarray:
    if not path.exists():
        raise RecordingFormatError(f"{path}: image file is missing")
    if path.stat().st_size > MAX_IMAGE_BYTES:
        raise RecordingFormatError(f"{path}: {path.stat().st_size} bytes, more than the {MAX_IMAGE_BYTES} an image may have")
    try:
        data = path.read_bytes()
        stream = io.BytesIO(data)
        version = np.lib.format.read_magic(stream)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(stream)
        # the header is checked against the file before numpy allocates what it claims
        if dtype.name not in ALLOWED_DTYPES or dtype.fields is not None:
            raise ValueError(f"dtype {dtype} is not a plain numeric dtype")
        if len(shape) > 3 or any(n < 0 for n in shape):
            raise ValueError(f"shape {shape}")
        needed = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if needed != len(data) - stream.tell():
            raise ValueError(f"the header claims {shape} {dtype} ({needed} bytes), the file holds {len(data) - stream.tell()}")
        image = np.frombuffer(data, dtype=dtype, offset=stream.tell()).reshape(shape, order="F" if fortran else "C")
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


def _to_grey_levels(image: np.ndarray, pixel_range: str, path: Path) -> np.ndarray:
    """One image in [0, 255], from a file stored in ``pixel_range``; data outside it are an error."""
    low, high = float(image.min()), float(image.max())
    top = 255.0 / PIXEL_RANGES[pixel_range]
    if low < 0 or high > top:
        raise RecordingFormatError(f"{path}: pixel values span [{low:g}, {high:g}], outside the declared range "
                                   f"{pixel_range}; pass the range the files are stored in (--pixel-range)")
    return image * PIXEL_RANGES[pixel_range]


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
    if pixel_range not in PIXEL_RANGES:
        raise RecordingFormatError(f"pixel range {pixel_range!r} is not one of {sorted(PIXEL_RANGES)}")
    # one image at native resolution at a time: 24,000 of them stacked as float64 would be ~68 GB
    shape, highest = None, -np.inf
    images = np.empty((len(image_ids), out_px, out_px), dtype=np.uint8)
    for row, image_id in enumerate(image_ids):
        path = root / "images" / f"{image_id:06d}.npy"
        image = _read_image(path)
        if shape is not None and image.shape != shape:
            raise RecordingFormatError(f"{path}: image has shape {image.shape}, the others {shape}")
        shape, highest = image.shape, max(highest, float(image.max()))
        try:
            images[row] = crop_and_downscale(_to_grey_levels(image, pixel_range, path)[None], ppd, ppd_out, out_px)[0]
        except ValueError as err:
            raise RecordingFormatError(f"{root / 'images'}: {err}") from None
    if pixel_range == "0-255" and highest <= 1.0:
        raise RecordingFormatError(f"{root / 'images'}: every pixel value lies in [0, {highest:g}]: the files look stored "
                                   "in [0, 1], not the declared 0-255; pass --pixel-range 0-1")
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
