"""The virtual monkey: determinism, trial structure, realistic rates."""

import numpy as np
import pytest

from pipeline.recordings.virtual_monkey import SIZES, Size, simulate

SMALL = Size((6, 6), (1, 2), 120, 30, 20, (4, 5), 21.0)


@pytest.fixture(scope="module")
def recordings():
    return simulate(SMALL, seed=11)


def test_same_seed_same_recordings(recordings):
    again = simulate(SMALL, seed=11)
    assert np.array_equal(again.images, recordings.images)
    for a, b in zip(again.sessions, recordings.sessions):
        assert np.array_equal(a.spikes, b.spikes) and a.trial_images == b.trial_images
        assert np.array_equal(a.true_rates, b.true_rates)


def test_other_seed_other_recordings(recordings):
    other = simulate(SMALL, seed=12)
    assert not np.array_equal(other.images, recordings.images)
    assert not np.array_equal(other.sessions[0].spikes, recordings.sessions[0].spikes)


def test_two_monkeys_whose_sessions_record_disjoint_subsets(recordings):
    assert [s.monkey for s in recordings.sessions] == ["virtual1", "virtual2", "virtual2"]
    units = {}
    for s in recordings.sessions:
        units.setdefault(s.monkey, 0)
        units[s.monkey] += len(s.unit_ids)
        assert len(s.unit_ids) >= 1
    assert units == {"virtual1": 6, "virtual2": 6}  # every neuron recorded exactly once


def test_trial_structure(recordings):
    test_ids = set(recordings.image_ids[np.array(recordings.image_roles) == "test"].tolist())
    for s in recordings.sessions:
        kinds = np.array(s.trial_types)
        assert (kinds == "train").sum() == SMALL.train_trials
        test_trials = [tuple(images) for kind, images in zip(s.trial_types, s.trial_images) if kind == "test"]
        distinct = sorted(set(test_trials))
        assert len(distinct) == SMALL.test_images // 15 == 2  # fixed-order test trials of 15
        repeats = {t: test_trials.count(t) for t in distinct}
        assert len(set(repeats.values())) == 1 and 4 <= next(iter(repeats.values())) <= 5
        assert set(i for t in distinct for i in t) == test_ids
        for kind, images in zip(s.trial_types, s.trial_images):
            assert len(images) == 15
            if kind == "train":
                assert len(set(images)) == 15 and not set(images) & test_ids
        # interleaved: test trials are not one block at either end
        positions = np.flatnonzero(kinds == "test")
        assert positions.min() < len(kinds) - len(positions) and positions.max() >= len(positions)
        # 15 images x 120 ms plus a tail, in 10 ms bins
        assert s.spikes.shape == (len(kinds), len(s.unit_ids), 210) and s.bin_width_ms == 10.0


def test_rates_and_counts_are_realistic(recordings):
    rates = np.concatenate([s.true_rates.ravel() for s in recordings.sessions])
    assert 0.5 < np.percentile(rates, 5) and np.percentile(rates, 95) < 200  # spikes/s
    assert np.percentile(rates, 95) > 3 * np.percentile(rates, 5)  # images drive the neurons
    s = recordings.sessions[0]
    assert (s.spikes >= 0).all() and np.array_equal(s.spikes, np.round(s.spikes))


def test_the_latency_delays_the_response(recordings):
    s = recordings.sessions[0]
    # mean count per bin in the first image's first 30 ms vs 60-120 ms after onset
    early = s.spikes[:, :, 0:3].mean()
    late = s.spikes[:, :, 6:12].mean()
    assert late > early


def test_paper_size_matches_the_paper():
    paper = SIZES["paper"]
    assert sum(paper.neurons) == 458 and paper.sessions == (15, 17)
    assert paper.train_images + paper.test_images == 24075 and paper.test_images == 75
    assert paper.test_repeats == (40, 50) and paper.images_per_trial == 15
