"""The Monkey Predictor: trained on a neural dataset through the registry, then evaluated.

``MonkeyPredictor`` is the ``TrainedModel`` template with ``recording.NeuralDataset`` as its
dataset table: a model config (``pipeline.models.predictor.build_monkey_predictor``) and a
trainer config (``pipeline.training.neural.train_neural_predictor``) from the registry,
times seeds. ``NeuralEvaluation`` scores every unit on the test repeats.
"""

from __future__ import annotations

import numpy as np
import datajoint as dj

from pipeline.recordings import measures
from pipeline.training.neural import predict

from .connection import make_schema
from .recording import NeuralDataset, Session, SpikeCount, VirtualTruth, readout_name  # noqa: F401 (definitions name them)
from .registry import ModelConfig, Seed, TrainerConfig  # noqa: F401
from .trained_model import CheckpointBase, TrainedModelBase

schema = make_schema("predictor")

_PARENTS = ("NeuralDataset", "ModelConfig", "TrainerConfig", "Seed")


@schema
class PredictorCheckpoint(CheckpointBase):
    definition = CheckpointBase.definition_for(*_PARENTS)


@schema
class MonkeyPredictor(TrainedModelBase):
    model_table = ModelConfig
    dataset_table = NeuralDataset
    trainer_table = TrainerConfig
    seed_table = Seed
    checkpoint_table = PredictorCheckpoint
    model_fns = ("pipeline.models.predictor.build_monkey_predictor",)
    trainer_fns = ("pipeline.training.neural.train_neural_predictor",)
    definition = TrainedModelBase.definition_for(*_PARENTS)


def _nullable(value) -> float | None:
    """MySQL cannot store NaN: undefined measures are NULL."""
    with np.errstate(all="ignore"):
        value = float(value)
    return value if np.isfinite(value) else None


@schema
class NeuralEvaluation(dj.Computed):
    definition = """
    # a neural predictor scored on the recordings' test repeats (and validation presentations)
    -> MonkeyPredictor
    ---
    n_units : int32                      # units evaluated
    test_corr : float64                  # mean over units: correlation with single-trial test responses
    validation_corr : float64            # mean over units: correlation on validation presentations
    fev : float64                        # mean over units: explainable fraction of response variance (data)
    fev_e : float64                      # mean over units: fraction of explainable variance explained (model)
    ceiling = null : float64             # mean over units: correlation of the true rates with the responses (virtual only)
    fraction_of_ceiling = null : float64 # test_corr / ceiling (virtual only)
    """

    class Unit(dj.Part):
        definition = """
        # one unit's scores
        -> master
        -> Session.Unit
        ---
        test_corr = null : float64       # correlation with single-trial test responses
        validation_corr = null : float64 # correlation on validation presentations
        fev = null : float64             # explainable fraction of the unit's test-response variance
        fev_e = null : float64           # fraction of explainable variance the model explains
        ceiling = null : float64         # correlation of the true rates with the test responses (virtual only)
        ceiling_fraction = null : float64  # test_corr / ceiling (virtual only)
        """

    def make_fetch(self, key):
        return (dict(key),)

    def make_compute(self, key, _):
        trained = MonkeyPredictor()
        model = trained.load_model(key)
        data = trained.load_data(key, int(key["seed"]))
        image_ids = data["image_ids"].numpy()
        units, pooled = [], {name: [] for name in _MEASURES}
        for session in (NeuralDataset.Session & key).to_dicts(order_by="session_id"):
            name = readout_name(session["session_id"])
            skey = {k: session[k] for k in ("recording_set", "monkey", "session_id")}
            rows, responses = data["sessions"][name]["test"]
            val_rows, val_responses = data["sessions"][name]["validation"]
            responses, presented = responses.numpy(), image_ids[rows.numpy()]
            prediction = predict(model, data, name, rows)
            scores = {
                "test_corr": measures.corr(prediction, responses),
                "validation_corr": measures.corr(predict(model, data, name, val_rows), val_responses.numpy()),
                "fev": measures.explainable_fraction(responses, presented),
                "fev_e": measures.fev_e(responses, prediction, presented),
                "ceiling": np.full(responses.shape[1], np.nan),
            }
            if VirtualTruth & skey:
                rates = np.asarray((VirtualTruth & skey).fetch1("true_rates"))[:, rows.numpy()].T
                scores["ceiling"] = measures.corr(rates, responses)
            for unit in (Session.Unit & skey).to_dicts(order_by="unit_index"):
                i = unit["unit_index"]
                row = {**key, **skey, "unit_id": unit["unit_id"]}
                row.update({m: _nullable(scores[m][i]) for m in _MEASURES})
                row["ceiling_fraction"] = _nullable(scores["test_corr"][i] / scores["ceiling"][i])
                units.append(row)
                for m in _MEASURES:
                    pooled[m].append(scores[m][i])
        master = {**key, "n_units": len(units), **{m: _mean(pooled[m]) for m in _MEASURES}}
        master["fraction_of_ceiling"] = (
            master["test_corr"] / master["ceiling"] if master["ceiling"] and master["test_corr"] is not None else None
        )
        return master, units

    def make_insert(self, key, master, units):
        self.insert1(master)
        self.Unit.insert(units)


_MEASURES = ("test_corr", "validation_corr", "fev", "fev_e", "ceiling")


def _mean(values) -> float | None:
    values = np.asarray(values, dtype=float)
    return float(np.nanmean(values)) if np.isfinite(values).any() else None
