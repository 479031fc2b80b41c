"""Spike-count window arithmetic."""

import numpy as np
import pytest

from pipeline.recordings.spike_counts import WindowError, window_bins, window_counts


def test_window_bins_follow_onsets():
    assert window_bins(0, (40, 160), 10, 0, 210) == slice(4, 16)
    assert window_bins(120, (40, 160), 10, 0, 210) == slice(16, 28)
    assert window_bins(0, (40, 160), 10, 40, 12) == slice(0, 12)  # published layout: bins from 40 ms


def test_counts_sum_the_window_of_each_presentation():
    spikes = np.zeros((1, 2, 30), dtype=np.float32)
    spikes[0, 0, 4:16] = 1  # unit 0: one spike per bin during image 0's window
    spikes[0, 1, 16:28] = 2  # unit 1: two per bin during image 1's window
    spikes[0, 1, 3] = 100  # just before image 0's window: not counted
    result = window_counts(spikes, [[7, 9]], (40, 160), 10, 0, 120)
    assert result["image_ids"].tolist() == [7, 9]
    assert result["counts"].tolist() == [[12, 0], [0, 24]]
    assert result["trial"].tolist() == [0, 0] and result["position"].tolist() == [0, 1]


def test_missing_bins_make_missing_counts():
    spikes = np.ones((1, 1, 30), dtype=np.float32)
    spikes[0, 0, 5] = np.nan
    assert np.isnan(window_counts(spikes, [[1]], (40, 160), 10, 0, 120)["counts"][0, 0])


@pytest.mark.parametrize(
    "window, origin, message",
    [((45, 160), 0, "bin edges"), ((0, 160), 40, "needs bins"), ((40, 400), 0, "needs bins"), ((50, 50), 0, "empty")],
)
def test_windows_the_bins_cannot_give_are_errors(window, origin, message):
    with pytest.raises(WindowError, match=message):
        window_counts(np.zeros((1, 1, 30), dtype=np.float32), [[1]], window, 10, origin, 120)
