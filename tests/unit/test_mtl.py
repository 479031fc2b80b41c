"""The multi-task pieces: batch-ratio schedule, uncertainty-weighted loss, shuffle, trainer."""

import math

import numpy as np
import pytest
import torch

from pipeline.models.mtl import MTLNetwork, build_mtl_model
from pipeline.responses import shuffle_per_neuron
from pipeline.training import MemoryCheckpointer, TrainingInterrupted
from pipeline.training.mtl import batches_in_step, parse_batch_ratio, train_mtl, uncertainty_weighted_loss

from .test_classifier import _images


@pytest.mark.parametrize("ratio, steps, neural, classification", [
    ("1:1", 10, 10, 10), ("3:1", 10, 30, 10), ("5:1", 7, 35, 7),
    ("1:4", 10, 3, 10),  # steps 0, 4, 8
    ("1:15", 30, 2, 30),  # steps 0 and 15
    ("1:2", 5, 3, 5),
])
def test_ratio_schedule_counts_batches_per_step(ratio, steps, neural, classification):
    per_step = [batches_in_step(ratio, s) for s in range(steps)]
    assert sum(n for n, _ in per_step) == neural and sum(c for _, c in per_step) == classification
    k_neural, k_class = parse_batch_ratio(ratio)
    if k_class == 1:
        assert all(step == (k_neural, 1) for step in per_step)
    else:
        assert [s for s, (n, _) in enumerate(per_step) if n] == list(range(0, steps, k_class))


@pytest.mark.parametrize("bad", ["2:3", "0:1", "1:0", "one to one", "3"])
def test_a_bad_ratio_is_refused_with_its_value(bad):
    with pytest.raises(ValueError, match="batch_ratio"):
        parse_batch_ratio(bad)


def test_uncertainty_weighted_loss_values_and_gradients():
    ce, mse = torch.tensor(2.0, requires_grad=True), torch.tensor(3.0, requires_grad=True)
    log_c = torch.tensor(math.log(2.0), requires_grad=True)  # sigma_c = 2
    log_n = torch.tensor(0.0, requires_grad=True)  # sigma_n = 1
    loss = uncertainty_weighted_loss(ce, mse, log_c, log_n)
    # 2 / 4 + 3 / 2 + log 2 + 0
    assert loss.item() == pytest.approx(0.5 + 1.5 + math.log(2.0))
    loss.backward()
    assert ce.grad.item() == pytest.approx(0.25) and mse.grad.item() == pytest.approx(0.5)
    # d/dlog_c = -2 CE / sigma_c^2 + 1 = 0 (sigma_c^2 = 2 CE is the optimum); d/dlog_n = -MSE / sigma_n^2 + 1
    assert log_c.grad.item() == pytest.approx(0.0, abs=1e-6)
    assert log_n.grad.item() == pytest.approx(-2.0)


def test_shuffle_is_a_reproducible_per_neuron_permutation_never_the_identity():
    rng = np.random.default_rng(0)
    responses = rng.random((6, 200)).astype(np.float32)  # distinct values: any permutation is visible
    a, b = shuffle_per_neuron(responses, seed=3), shuffle_per_neuron(responses, seed=3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, shuffle_per_neuron(responses, seed=4))
    for u in range(responses.shape[1]):
        assert np.array_equal(np.sort(a[:, u]), np.sort(responses[:, u]))  # the same values, moved
        assert not np.array_equal(a[:, u], responses[:, u])  # never left in place
    orders = {tuple(np.argsort(np.argsort(a[:, u])) - np.argsort(np.argsort(responses[:, u]))) for u in range(200)}
    assert len(orders) > 1  # neurons are permuted independently
    two = shuffle_per_neuron(np.array([[1.0, 5.0], [2.0, 6.0]]), seed=0)  # with 2 rows the only other order is the swap
    assert np.array_equal(two, [[2.0, 6.0], [1.0, 5.0]])


def _mtl_data(n_per_class=16, units=(3, 2)):
    data = _images(n_per_class=n_per_class)
    rng = np.random.default_rng(1)
    weights = torch.from_numpy(rng.random((32 * 32, sum(units))).astype(np.float32))
    def respond(x):  # a fixed linear-rectified "neuron" per column
        return torch.relu(x.float().flatten(1) / 255.0 @ weights / 100.0) + 0.1
    data["responses"] = {s: respond(data[s][0]) for s in ("train", "validation", "test")}
    data["response_sessions"] = [(f"s{i}", n) for i, n in enumerate(units)]
    return data


class _Counting(MTLNetwork):
    """Counts classification and neural forward passes of the batches the trainer runs."""

    calls = {"classification": 0, "neural": 0}

    def forward(self, x):
        if self.training:
            _Counting.calls["classification"] += 1
        return super().forward(x)

    def neural(self, x):
        if self.training:
            _Counting.calls["neural"] += 1
        return super().neural(x)


@pytest.mark.parametrize("ratio, expected_neural", [("3:1", 3 * 6), ("1:4", 2)])
def test_trainer_runs_the_scheduled_batches(ratio, expected_neural):
    data = _mtl_data()  # 48 training images, batch 8: 6 steps per epoch
    model = build_mtl_model(data, seed=0, width=0.125)
    model.__class__ = _Counting
    _Counting.calls = {"classification": 0, "neural": 0}
    train_mtl(model, data, seed=0, batch_ratio=ratio, max_epochs=1, batch_size=8, lr=0.01)
    assert _Counting.calls == {"classification": 6, "neural": expected_neural}


def test_trainer_learns_both_tasks_and_resumes_exactly():
    data = _mtl_data(n_per_class=24)
    config = dict(batch_ratio="2:1", max_epochs=4, batch_size=16, lr=0.005, momentum=0.9, patience=5)
    reference = train_mtl(build_mtl_model(data, seed=0, width=0.125), data, seed=0, **config)
    history = reference.output["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["neural_mse"] < 0.5 * history[0]["neural_mse"]
    assert {"neural_mse", "neural_corr", "sigma_c", "sigma_n", "test_accuracy", "batch_ratio"} <= set(reference.output)
    assert reference.output["sigma_n"] != 1.0 and reference.output["sigma_c"] != 1.0  # the sigmas learn

    seen = {"epochs": 0}
    def stop_after_two():
        seen["epochs"] += 1
        return seen["epochs"] == 2
    checkpoint = MemoryCheckpointer(every_epochs=None, every_minutes=60, stop_requested=stop_after_two)
    with pytest.raises(TrainingInterrupted):
        train_mtl(build_mtl_model(data, seed=0, width=0.125), data, seed=0, checkpoint=checkpoint, **config)
    again = MemoryCheckpointer(every_epochs=1)
    again.data = checkpoint.data
    resumed = train_mtl(build_mtl_model(data, seed=0, width=0.125), data, seed=0, checkpoint=again, **config)
    assert resumed.output["resumed_from_epoch"] == 2
    assert resumed.output["history"] == history
    for name, tensor in reference.state_dict.items():
        torch.testing.assert_close(resumed.state_dict[name], tensor, rtol=0, atol=1e-6)


def test_session_columns_select_a_sessions_units():
    data = _mtl_data()
    model = build_mtl_model(data, seed=0, width=0.125).eval()
    images = data["test"][0][:4]
    all_units = model.neural((images[:, None].float() / 255 - model.image_mean) / model.image_std)
    assert torch.allclose(model.predict_session(images, "s1"), all_units[:, 3:5])
    with pytest.raises(KeyError, match="s9"):
        model.predict_session(images, "s9")


def test_scale_loss_multiplies_the_neural_term_by_sqrt_images_over_batch():
    from pipeline.training.mtl import neural_loss_scale

    assert neural_loss_scale(48, 12) == pytest.approx(2.0)
    data = _mtl_data()  # 48 training images
    config = dict(batch_ratio="1:1", max_epochs=1, batch_size=8, lr=0.01)

    def trained(scale_loss, neural_batch_size):
        return train_mtl(build_mtl_model(data, seed=0, width=0.125), data, seed=0, scale_loss=scale_loss,
                         neural_batch_size=neural_batch_size, **config)

    off, on = trained(False, 12), trained(True, 12)  # scale sqrt(48 / 12) = 2
    assert off.output["scale_loss"] is False and on.output["scale_loss"] is True
    assert not torch.allclose(off.state_dict["log_sigma_n"], on.state_dict["log_sigma_n"])
    # a neural batch of the whole set has scale sqrt(48 / 48) = 1: the same training either way
    whole_off, whole_on = trained(False, 48), trained(True, 48)
    for name, tensor in whole_off.state_dict.items():
        torch.testing.assert_close(whole_on.state_dict[name], tensor, rtol=0, atol=0)
