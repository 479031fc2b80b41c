"""Corruption evaluation: every classifier on every corruption source, per image.

``ClassifierModel`` is the catalog of trained classifiers (Baseline and Oracle stage 1 from
``Classifier``, the Oracle from ``OracleStage2``, the MTL models). ``Evaluation`` loads one
model once and scores it on the clean test split and on all conditions of a source
(70 for TIN-TC), batched on the device; per-image correctness is stored as bits so the
bootstrap can resample images.
"""

from __future__ import annotations

import datajoint as dj
import numpy as np

from .catalog import Catalog, SyncsCatalogs
from . import kinds
from .classifier import Classifier, OracleStage2
from .connection import make_schema
from .corruption import Corruption, CorruptionSource, Severity  # noqa: F401 (definitions name them)
from .images import ImageDataset
from .mtl import MTLModel
from .registry import kind_of

schema = make_schema("evaluation")


@schema
class ClassifierModel(Catalog, dj.Manual):
    id_attr = "classifier_id"
    definition = f"""
    # a trained image classifier of any family
    -> ImageDataset
    classifier_id : char(32)            # blake2b-128 of the source table and key
    ---
    kind : {kinds.enum(kinds.CLASSIFIER_KINDS)}  # which table and trainer made it (schemas.kinds)
    seed : int32                        # the model's seed
    """

    class FromClassifier(dj.Part):
        definition = """
        # a Baseline or an Oracle stage 1
        -> master
        ---
        -> Classifier
        """

    class FromOracle(dj.Part):
        definition = """
        # an Oracle (stage 2)
        -> master
        ---
        -> OracleStage2
        """

    class FromMTL(dj.Part):
        definition = """
        # a multi-task model
        -> master
        ---
        -> MTLModel
        """

    def catalog_sources(self):
        return [
            (self.FromClassifier, Classifier, lambda k: {**k, "kind": kind_of("Classifier", k["model_fn"], k["trainer_fn"])}),
            (self.FromOracle, OracleStage2, lambda k: {**k, "kind": "oracle"}),
            (self.FromMTL, MTLModel, lambda k: {**k, "kind": "mtl"}),
        ]

    _TABLES = {"FromClassifier": Classifier, "FromOracle": OracleStage2, "FromMTL": MTLModel}

    @classmethod
    def part_of_kind(cls, kind: str) -> type | None:
        """The Part that lists models of ``kind`` (a kind of schemas.kinds); None for a kind
        that is no classifier (the Monkey Predictor, the Oracle readout)."""
        table = kinds.get(kind).table
        return next((getattr(cls, part) for part, source in cls._TABLES.items() if source.__name__ == table), None)

    def load_model(self, key):
        part, source_key = self.source_of(key)
        table = self._TABLES[part]
        return table().load_model({k: source_key[k] for k in table.primary_key})


@schema
class Evaluation(SyncsCatalogs, dj.Computed):
    definition = """
    # a classifier on the clean test split and on every condition of a corruption source
    -> ClassifierModel
    -> CorruptionSource
    ---
    clean_accuracy : float64            # accuracy on the clean test split (0-1)
    n_clean : int32                     # clean test images
    clean_correct : <npy@artifacts>     # per-image correctness on the clean test split, np.packbits
    mean_corruption_accuracy : float64  # mean accuracy over all conditions (0-1)
    """

    class Condition(dj.Part):
        definition = """
        # accuracy under one corruption and severity
        -> master
        -> Corruption
        -> Severity
        ---
        accuracy : float64              # share of correctly classified images (0-1)
        n_images : int32                # images evaluated
        correct : <npy@artifacts>       # per-image correctness, np.packbits (unpack with count=n_images)
        """

    @property
    def key_source(self):
        # a source is ready when complete: all of TIN-TC's conditions made, or imported
        return ClassifierModel.proj() * CorruptionSource.proj() & CorruptionSource.complete()

    def make_fetch(self, key):
        return (CorruptionSource.conditions(key),)

    def make_compute(self, key, conditions):
        # here, not at the top (it imports torch): status, gc and ingest's checks start without torch
        from pipeline.evaluation import correct_per_image, for_inference, pack
        from pipeline.progress import progress_bar

        model = for_inference(ClassifierModel().load_model(key))
        dataset = (ImageDataset & key).fetch1()
        mean, std = float(dataset["pixel_mean"]), float(dataset["pixel_std"])
        test = (ImageDataset.Split & key & {"split": "test"}).fetch1()
        clean = correct_per_image(model, test["images"], test["labels"], mean, std)
        rows = []
        for corruption, severity in progress_bar(conditions, desc="conditions", unit="set", leave=False):
            images, labels = CorruptionSource.load(key, corruption, severity)
            correct = correct_per_image(model, images, labels, mean, std)
            rows.append({**key, "corruption": corruption, "severity": severity, "accuracy": float(correct.mean()),
                         "n_images": len(correct), "correct": pack(correct)})
        master = {**key, "clean_accuracy": float(clean.mean()), "n_clean": len(clean), "clean_correct": pack(clean),
                  "mean_corruption_accuracy": float(np.mean([r["accuracy"] for r in rows]))}
        return master, rows

    def make_insert(self, key, master, rows):
        self.insert1(master)
        self.Condition.insert(rows)
