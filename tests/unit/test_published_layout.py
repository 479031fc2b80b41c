"""The authors' published layout: round trip, and every bad input refused with file and field."""

import os
import pickle
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
