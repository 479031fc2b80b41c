"""The one training engine (pipeline.training.loop.fit): schedule, early stop, best state,
resume and stop on request, with the trainers' step and metric supplied as functions."""

import pytest
import torch

from pipeline.training.checkpoint import MemoryCheckpointer, TrainingInterrupted
from pipeline.training.loop import fit


def _setup(scores):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    def run_epoch(epoch, generator):
        x = torch.randn(8, 3, generator=generator)
        optimizer.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        optimizer.step()
        return loss.item(), 1

    def validate(m):
        epoch = len(validate.seen)
        validate.seen.append(epoch)
        return scores[epoch], {"val_score": scores[epoch]}

    validate.seen = []
    return model, optimizer, run_epoch, validate


SCHEDULE = {"lr_decay_factor": 0.5, "patience": 1, "tolerance": 1e-4, "max_lr_decays": 2}


def test_the_plateau_rule_stops_training_and_says_why():
    model, optimizer, run_epoch, validate = _setup([0.5] * 50)
    fitted = fit(model, optimizer, 1, None, run_epoch=run_epoch, validate=validate, desc="t", max_epochs=50, **SCHEDULE)
    # best at epoch 1; epochs 2-3 without improvement: reduction 1; epochs 4-5: reduction 2, the last
    assert len(fitted.history) == 5 and fitted.lr_decays == 2
    assert [h["lr"] for h in fitted.history] == [0.1, 0.1, 0.1, 0.05, 0.05]
    assert fitted.summary("m")["stop_reason"] == "plateau: 2 lr reductions after 5 epochs"


def test_the_epoch_budget_ends_a_model_that_still_improves_and_the_best_weights_are_kept():
    scores = [0.1, 0.9, 0.2, 0.3]
    model, optimizer, run_epoch, validate = _setup(scores)
    states = []
    original = validate

    def validate_and_remember(m):
        states.append({k: v.clone() for k, v in m.state_dict().items()})
        return original(m)

    fitted = fit(model, optimizer, 1, None, run_epoch=run_epoch, validate=validate_and_remember, desc="t", max_epochs=4,
                 **SCHEDULE)
    assert fitted.summary("m")["stop_reason"].startswith("epoch budget: 4 of 4 epochs")
    assert fitted.best_score == 0.9
    assert all(torch.equal(fitted.best_state[k], states[1][k]) for k in states[1])


def test_a_run_stopped_on_request_resumes_to_the_uninterrupted_result():
    scores = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    model, optimizer, run_epoch, validate = _setup(scores)
    whole = fit(model, optimizer, 3, None, run_epoch=run_epoch, validate=validate, desc="t", max_epochs=6, **SCHEDULE)

    stop = {"now": False}
    checkpoint = MemoryCheckpointer(every_epochs=1, stop_requested=lambda: stop["now"])
    model, optimizer, run_epoch, validate = _setup(scores)

    def validate_then_stop(m):
        result = validate(m)
        stop["now"] = len(validate.seen) == 2  # SIGTERM arrives during epoch 2
        return result

    with pytest.raises(TrainingInterrupted):
        fit(model, optimizer, 3, checkpoint, run_epoch=run_epoch, validate=validate_then_stop, desc="t", max_epochs=6,
            **SCHEDULE)
    stop["now"] = False  # the restarted worker was not asked to stop
    model, optimizer, run_epoch, validate = _setup(scores)
    validate.seen = [0, 1]  # the validation scores of the epochs already run
    resumed = fit(model, optimizer, 3, checkpoint, run_epoch=run_epoch, validate=validate, desc="t", max_epochs=6,
                  **SCHEDULE)
    assert resumed.resumed_from_epoch == 2
    assert resumed.history == whole.history
    assert all(torch.equal(resumed.best_state[k], whole.best_state[k]) for k in whole.best_state)
