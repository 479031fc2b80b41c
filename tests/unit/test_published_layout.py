"""The authors' published layout: round trip, and every bad input refused with file and field."""

import codecs
import os
import pickle
import re
import shutil

import numpy as np
import pytest

from pipeline.recordings.published import RecordingFormatError, read_published, safe_load, write_published
from pipeline.recordings.spike_counts import window_counts
from pipeline.recordings.stimuli import crop_and_downscale
from pipeline.recordings.virtual_monkey import Size, simulate

SMALL = Size((4, 4), (1, 1), 60, 15, 6, (2, 2), 14.0)


@pytest.fixture(scope="module")
def recordings():
    return simulate(SMALL, seed=5)


@pytest.fixture
def layout(recordings, tmp_path):
    return write_published(recordings, tmp_path / "dataset")


def _session_file(layout):
    return sorted((layout / "neuronal_data").glob("*.pickle"))[0]


def _rewrite(path, change):
    data = safe_load(path)
    change(data)
    with open(path, "wb") as handle:
        pickle.dump(data, handle)


def test_round_trip_keeps_counts_units_and_images(recordings, layout):
    back = read_published(layout, ppd=14)
    assert [s.session_id for s in back.sessions] == [s.session_id for s in recordings.sessions]
    original, imported = recordings.sessions[0], back.sessions[0]
    assert np.array_equal(imported.unit_ids, original.unit_ids)
    assert np.array_equal(imported.electrodes, original.electrodes)
    a = window_counts(original.spikes, original.trial_images, (40, 160), 10, 0, 120)
    b = window_counts(imported.spikes, imported.trial_images, (40, 160), 10, 40, 120)
    order_a = np.lexsort((a["trial"], a["image_ids"]))
    order_b = np.lexsort((b["trial"], b["image_ids"]))
    assert np.array_equal(a["image_ids"][order_a], b["image_ids"][order_b])
    assert np.allclose(np.sort(a["counts"], axis=0), np.sort(b["counts"], axis=0))
    shown = np.isin(recordings.image_ids, back.image_ids)
    assert np.array_equal(back.images, recordings.images[shown])
    assert set(back.image_ids[np.array(back.image_roles) == "test"]) <= set(recordings.image_ids[np.array(recordings.image_roles) == "test"])


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch /tmp/pipeline-exploit-ran",))


def test_a_pickle_that_would_run_code_is_refused(layout):
    path = _session_file(layout)
    with open(path, "wb") as handle:
        pickle.dump({"session_id": _Exploit()}, handle)
    if os.path.exists("/tmp/pipeline-exploit-ran"):
        os.remove("/tmp/pipeline-exploit-ran")
    with pytest.raises(RecordingFormatError, match=rf"{path.name}.*unsafe.*system"):
        read_published(layout, ppd=14)
    assert not os.path.exists("/tmp/pipeline-exploit-ran")


def test_missing_field_names_file_and_field(layout):
    path = _session_file(layout)
    _rewrite(path, lambda d: d.pop("electrode_nums"))
    with pytest.raises(RecordingFormatError, match=rf"{path.name}: missing field 'electrode_nums'"):
        read_published(layout, ppd=14)


def test_shape_mismatch_names_file_and_field(layout):
    path = _session_file(layout)
    _rewrite(path, lambda d: d.update(training_image_ids=d["training_image_ids"][:-1]))
    with pytest.raises(RecordingFormatError, match=rf"{path.name}: field 'training_responses' has \d+ presentations, 'training_image_ids'"):
        read_published(layout, ppd=14)


def test_units_mismatch_names_the_field(layout):
    path = _session_file(layout)
    _rewrite(path, lambda d: d.update(relative_micron_depth=d["relative_micron_depth"][:-1]))
    with pytest.raises(RecordingFormatError, match="relative_micron_depth"):
        read_published(layout, ppd=14)


def test_nan_only_unit_is_refused(layout):
    path = _session_file(layout)

    def blank(d):
        d["training_responses"][1] = np.nan
        d["testing_responses"][1] = np.nan

    _rewrite(path, blank)
    unit = int(safe_load(path)["unit_ids"][1])
    with pytest.raises(RecordingFormatError, match=rf"{path.name}.*only NaN for unit\(s\) \[{unit}\]"):
        read_published(layout, ppd=14)


def test_missing_image_file_is_named(layout):
    victim = sorted((layout / "images").glob("*.npy"))[0]
    victim.unlink()
    with pytest.raises(RecordingFormatError, match=rf"{victim.name}: image file is missing"):
        read_published(layout, ppd=14)


def test_the_pixel_range_is_declared_never_guessed(recordings, layout):
    files = sorted((layout / "images").glob("*.npy"))
    for path in files:  # the same images stored in [0, 1]
        np.save(path, np.load(path) / 255.0)
    with pytest.raises(RecordingFormatError, match=r"look stored in \[0, 1\], not the declared 0-255; pass --pixel-range 0-1"):
        read_published(layout, ppd=14)
    back = read_published(layout, ppd=14, pixel_range="0-1")
    shown = np.isin(recordings.image_ids, back.image_ids)
    assert np.allclose(back.images, recordings.images[shown], atol=1e-9)
    np.save(files[0], np.load(files[0]) * 300.0)  # one file outside any range
    with pytest.raises(RecordingFormatError, match=r"outside the declared range 0-1"):
        read_published(layout, ppd=14, pixel_range="0-1")
    with pytest.raises(RecordingFormatError, match=r"outside the declared range 0-255"):
        read_published(layout, ppd=14)


def test_missing_session_folder(tmp_path):
    with pytest.raises(RecordingFormatError, match="neuronal_data"):
        read_published(tmp_path)


def test_images_smaller_than_the_model_field(layout):
    with pytest.raises(RecordingFormatError, match="smaller than"):
        read_published(layout, ppd=63)  # 64 px at 63 ppd cannot cover 64 px at 14 ppd


def test_crop_and_downscale_keeps_the_centre():
    image = np.zeros((1, 420, 420), dtype=np.uint8)
    image[0, 200:220, 200:220] = 255  # a bright square at the centre
    image[0, :50] = 255  # outside the central 288 px: cropped away
    out = crop_and_downscale(image, ppd_in=63)
    assert out.shape == (1, 64, 64)
    assert out[0, :5].max() == 0  # the top band is gone
    assert out[0, 30:34, 30:34].min() > 200  # the square is still at the centre


class _Crafted:
    """Pickles as whatever ``__reduce__`` value it is given: a hostile file's building block."""

    def __init__(self, *reduce):
        self.reduce = reduce

    def __reduce__(self):
        return self.reduce


def _crafted(layout, field, value, protocol=2):
    path = _session_file(layout)
    data = safe_load(path)
    data[field] = value
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    return path


def _reconstruct():
    from numpy._core.multiarray import _reconstruct as reconstruct

    return reconstruct


@pytest.mark.parametrize("name, value, message", [
    ("structured dtype", lambda: np.zeros(4, dtype=[("a", "f8"), ("b", "i4")]), "dtype 'V12' is not a plain numeric dtype"),
    ("object dtype", lambda: np.array([1, "x"], dtype=object), "dtype 'O8' is not a plain numeric dtype"),
    ("length lie", lambda: _Crafted(_reconstruct(), (np.ndarray, (0,), b"b"),
                                    (1, (10**12,), np.dtype("f8"), False, b"\0" * 8)),
     "needs 8000000000000 bytes, the file holds 8"),
    ("negative shape", lambda: _Crafted(_reconstruct(), (np.ndarray, (0,), b"b"), (1, (-1,), np.dtype("f8"), False, b"\0" * 8)),
     "array shape"),
    ("no state", lambda: _Crafted(_reconstruct(), (np.ndarray, (0,), b"b")), "array without state"),
    ("codec", lambda: _Crafted(codecs.encode, ("abc", "rot13")), "codec call _codecs.encode"),
    ("a function", lambda: _Crafted(os.system, ("true",)), "refers to posix.system"),
])
def test_a_crafted_session_file_gets_a_one_line_error(layout, name, value, message):
    path = _crafted(layout, "unit_ids", value())
    with pytest.raises(RecordingFormatError, match=re.escape(message)) as refused:
        read_published(layout, ppd=14)
    assert str(refused.value).startswith(str(path)) and "\n" not in str(refused.value)


def test_protocol_5_arrays_load_and_their_lies_are_refused(recordings, layout):
    path = _session_file(layout)
    data = safe_load(path)
    path.write_bytes(pickle.dumps(data, protocol=5))
    back = safe_load(path)
    assert np.array_equal(back["training_responses"], data["training_responses"], equal_nan=True)
    from numpy._core.numeric import _frombuffer

    _crafted(layout, "unit_ids", _Crafted(_frombuffer, (bytearray(8), np.dtype("f8"), (1000,), "C")), protocol=5)
    with pytest.raises(RecordingFormatError, match="needs 8000 bytes, the file holds 8"):
        read_published(layout, ppd=14)


def test_a_session_file_over_the_size_cap_is_not_read(layout, monkeypatch):
    from pipeline.recordings import published

    monkeypatch.setattr(published, "MAX_SESSION_BYTES", 100)
    with pytest.raises(RecordingFormatError, match=r"more than the 100 a session file may have"):
        read_published(layout, ppd=14)


def test_an_npy_header_that_claims_more_than_the_file_holds_is_refused_before_allocating(layout):
    victim = sorted((layout / "images").glob("*.npy"))[0]
    header = {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)}  # 8 TB claimed
    with open(victim, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        handle.write(b"\0" * 64)
    with pytest.raises(RecordingFormatError, match=r"the header claims \(1000000, 1000000\) float64 \(8000000000000 bytes\), the file holds 64"):
        read_published(layout, ppd=14)
    with open(victim, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "|O", "fortran_order": False, "shape": (2,)})
    with pytest.raises(RecordingFormatError, match="not a plain numeric dtype"):
        read_published(layout, ppd=14)
