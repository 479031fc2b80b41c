"""Neural measures on cases with known answers."""

import numpy as np

from pipeline.recordings.measures import corr, explainable_fraction, fev_e


def _repeats(rng, signal_sd, noise_sd, images=40, repeats=20, units=3):
    signal = rng.normal(0, signal_sd, (images, units))
    ids = np.repeat(np.arange(images), repeats)
    responses = signal[ids] + rng.normal(0, noise_sd, (images * repeats, units))
    return signal, ids, responses


def test_corr_matches_numpy_and_skips_nan():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(100, 2)), rng.normal(size=(100, 2))
    y[:, 1] = 2 * x[:, 1] + 1
    expected = [np.corrcoef(x[:, 0], y[:, 0])[0, 1], 1.0]
    assert np.allclose(corr(x, y), expected)
    y[:10, 0] = np.nan
    assert np.isclose(corr(x, y)[0], np.corrcoef(x[10:, 0], y[10:, 0])[0, 1])


def test_explainable_fraction_follows_signal_to_noise():
    rng = np.random.default_rng(1)
    _, ids, responses = _repeats(rng, signal_sd=1.0, noise_sd=1.0)
    assert np.allclose(explainable_fraction(responses, ids), 0.5, atol=0.15)  # half the variance is signal
    _, ids, responses = _repeats(rng, signal_sd=1.0, noise_sd=0.01)
    assert np.all(explainable_fraction(responses, ids) > 0.99)


def test_fev_e_is_one_for_the_true_signal_and_zero_for_the_mean():
    rng = np.random.default_rng(2)
    signal, ids, responses = _repeats(rng, signal_sd=1.0, noise_sd=0.5)
    assert np.allclose(fev_e(responses, signal[ids], ids), 1.0, atol=0.1)
    constant = np.broadcast_to(responses.mean(axis=0), responses.shape)
    assert np.all(fev_e(responses, constant, ids) < 0.1)


def test_cadenas_selection_keeps_units_with_at_least_fifteen_percent_explainable_variance():
    from pipeline.recordings.measures import FEV_SELECTION, selected_units

    assert FEV_SELECTION == 0.15
    rng = np.random.default_rng(3)
    reliable = _repeats(rng, signal_sd=1.0, noise_sd=1.0, units=2)  # FEV about 0.5
    noisy = _repeats(rng, signal_sd=0.1, noise_sd=1.0, units=2)  # FEV about 0.01
    responses = np.concatenate([reliable[2], noisy[2]], axis=1)
    fev = explainable_fraction(responses, reliable[1])
    assert selected_units(fev).tolist() == [True, True, False, False]
    assert selected_units([0.15, 0.1499, np.nan]).tolist() == [True, False, False]
