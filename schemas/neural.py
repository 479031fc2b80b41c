"""Neural performance of every neural model on the recordings: Monkey Predictors, Oracle
readouts and MTL models, scored by one table.

``NeuralModel`` is the catalog of models that predict V1 responses; ``NeuralEvaluation``
runs each on the neural dataset's test repeats (FEV, FEVe, correlation) and validation
presentations. For MTL models this is the x-axis of the paper's Figure 3C: the readout
was trained on predicted responses to TIN images and is scored here against the real
test responses.
"""

from __future__ import annotations

import datajoint as dj
import numpy as np

from pipeline.recordings import measures

from . import kinds
from .catalog import Catalog, SyncsCatalogs
from .connection import make_schema
from .mtl import MTLModel
from .predictor import MonkeyPredictor
from .recording import NeuralDataset, Session, VirtualTruth, readout_name
from .responses import OracleReadout, ResponseSource

schema = make_schema("neural")


@schema
class NeuralModel(Catalog, dj.Manual):
    id_attr = "neural_model_id"
    definition = f"""
    # a model that predicts the responses of a neural dataset's units
    -> NeuralDataset
    neural_model_id : char(32)          # blake2b-128 of the source table and key
    ---
    kind : {kinds.enum(kinds.NEURAL_KINDS)}  # which table trained it (schemas.kinds)
    seed : int32                        # the model's seed
    """

    class FromPredictor(dj.Part):
        definition = """
        # a Monkey Predictor
        -> master
        ---
        -> MonkeyPredictor
        """

    class FromOracleReadout(dj.Part):
        definition = """
        # readouts on the frozen Oracle
        -> master
        ---
        -> OracleReadout
        """

    class FromMTL(dj.Part):
        definition = """
        # the neural head of a multi-task model
        -> master
        ---
        -> MTLModel
        """

    def catalog_sources(self):
        mtl = MTLModel.proj() * ResponseSource.proj("neural_dataset")
        return [
            (self.FromPredictor, MonkeyPredictor, lambda k: {**k, "kind": "monkey_predictor"}),
            (self.FromOracleReadout, OracleReadout, lambda k: {**k, "kind": "oracle_readout"}),
            (self.FromMTL, mtl, lambda k: {**k, "kind": "mtl"}),
        ]

    def load_model(self, key):
        """The trained network of one entry; it offers ``predict_session(images, session)``."""
        part, source_key = self.source_of(key)
        table = {"FromPredictor": MonkeyPredictor, "FromOracleReadout": OracleReadout, "FromMTL": MTLModel}[part]
        return table().load_model({k: source_key[k] for k in table.primary_key})


def _nullable(value) -> float | None:
    """MySQL cannot store NaN: undefined measures are NULL."""
    with np.errstate(all="ignore"):
        value = float(value)
    return value if np.isfinite(value) else None


@schema
class NeuralEvaluation(SyncsCatalogs, dj.Computed):
    definition = """
    # a neural predictor scored on the recordings' test repeats (and validation presentations)
    -> NeuralModel
    ---
    n_units : int32                      # units evaluated
    test_corr : float64                  # mean over units: correlation with single-trial test responses
    validation_corr : float64            # mean over units: correlation on validation presentations
    fev : float64                        # mean over units: explainable fraction of response variance (data)
    fev_e : float64                      # mean over units: fraction of explainable variance explained (model)
    ceiling = null : float64             # mean over units: correlation of the true rates with the responses (virtual only)
    fraction_of_ceiling = null : float64 # test_corr / ceiling (virtual only)
    n_units_selected : int32             # units whose fev passes the criterion of Cadena et al. 2019 (fev >= 0.15)
    fev_e_selected = null : float64      # mean FEVe over those units (Figure 3C's x-axis); null if none passes
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
        # which trained model is scored (its catalog source row) on which recordings: an
        # entry re-pointed or a dataset redefined meanwhile makes the insert fail
        return NeuralModel().source_of(key), NeuralDataset().data_description(key)

    def make_compute(self, key, source, dataset):
        # here, not at the top (both import torch): status, gc and ingest's checks start without torch
        from pipeline.evaluation import for_inference
        from pipeline.training.neural import predict

        model = for_inference(NeuralModel().load_model(key))
        data = NeuralDataset().build({"neural_dataset": key["neural_dataset"]})
        image_ids = data.image_ids.numpy()
        units, pooled = [], {name: [] for name in _MEASURES}
        for session in (NeuralDataset.Session & key).to_dicts(order_by="session_id"):
            name = readout_name(session["session_id"])
            skey = {k: session[k] for k in ("recording_set", "monkey", "session_id")}
            rows, responses = data.sessions[name]["test"]
            val_rows, val_responses = data.sessions[name]["validation"]
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
        # Cadena et al. 2019 analyse only units whose explainable fraction of the test-response
        # variance is at least 0.15; the paper's Figure 3C takes FEVe from them
        selected = measures.selected_units(pooled["fev"])
        fev_e = np.asarray(pooled["fev_e"], dtype=float)
        master["n_units_selected"] = int(selected.sum())
        master["fev_e_selected"] = _mean(fev_e[selected]) if selected.any() else None
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
