"""Families belong to datasets: two virtual monkeys and two image sets in one database give
two experiments whose models, robustness scores and regressions never mix.

The first experiment is the shared ``tiny`` graph; the second is added to it here."""

import pytest

pytestmark = [pytest.mark.portable, pytest.mark.extends_graph]

PAIRS = {"tiny": ("tiny-tin", "virtual-tiny"), "b": ("tiny-tin-b", "virtual-tiny-b")}
#: stages after the regression (reconstructions, saliency) add nothing to this question
SKIPPED = ("Reconstruction", "Saliency", "SpectralControl", "NormRatio", "ReconstructionTarget")


@pytest.fixture(scope="module")
def two_experiments(pipeline_modules, backend):
    from populate import demo, profiles
    from populate.worker import run_worker
    from populate.jobs import auto_tables

    from .conftest import extend_shared_graph

    extend_shared_graph(pipeline_modules, backend)  # experiment "tiny": tiny-tin and virtual-tiny
    spec = profiles.profile("tiny")
    demo.ensure_virtual_monkey({**spec["virtual_monkey"], "name": "virtual-tiny-b", "seed": 1})
    demo.ensure_image_set({**spec["image_set"], "name": "tiny-tin-b", "seed": 3})
    image_dataset, neural_dataset = PAIRS["b"]
    profiles.register("tiny", experiment="b", image_dataset=image_dataset, neural_dataset=neural_dataset)
    tables = [t.__name__ for t in auto_tables(pipeline_modules) if not any(s in t.__name__ for s in SKIPPED)]
    summary = run_worker(tables=tables, display_progress=False, gc_min_age_s=0)
    assert not any(summary["errors"].values()), summary
    return summary


def test_mtl_models_are_trained_only_for_their_familys_datasets(two_experiments):
    from schemas.mtl import MTLModel
    from schemas.responses import ResponseSource

    pairs = sorted((r["image_dataset"], r["neural_dataset"]) for r in (MTLModel.proj() * ResponseSource).to_dicts())
    # per experiment: MTL-Monkey and MTL-Shuffled at 2 ratios, MTL-Oracle at 1, two seeds each
    assert pairs == sorted([PAIRS["tiny"]] * 10 + [PAIRS["b"]] * 10)


def test_every_aggregate_uses_only_its_familys_models(two_experiments):
    from schemas.evaluation import ClassifierModel
    from schemas.robustness import Robustness, RobustnessRegression
    from schemas.responses import ResponseSource

    for experiment, (image_dataset, neural_dataset) in PAIRS.items():
        scored = (Robustness & {"experiment": experiment, "corruption_source": "tin-tc"}).to_dicts()
        assert len(scored) == 7 and {r["image_dataset"] for r in scored} == {image_dataset}
        assert {r["reference_family"] for r in scored} == {"Baseline"}
        for row in scored:
            key = {k: row[k] for k in Robustness.primary_key}
            members = (Robustness.Member & key).to_dicts()
            assert len(members) == row["n_models"] > 0
            for member in members:
                model = (ClassifierModel & {"image_dataset": image_dataset, "classifier_id": member["classifier_id"]})
                assert len(model) == 1
                if row["family"].startswith("MTL"):
                    responses = (ClassifierModel.FromMTL & model.proj()).fetch1("responses_id")
                    source = ResponseSource & {"image_dataset": image_dataset, "responses_id": responses}
                    assert source.fetch1("neural_dataset") == neural_dataset
        sweeps = (RobustnessRegression & {"experiment": experiment}).to_dicts()
        assert sorted(r["family"] for r in sweeps) == ["MTL-Monkey ratio sweep", "MTL-Shuffled ratio sweep"]
        assert all(r["n_models"] == 4 for r in sweeps)
    # the two Baselines differ: each experiment is scored against its own
    baselines = {e: (Robustness.Member & {"experiment": e, "family": "Baseline"}).to_arrays("classifier_id").tolist()
                 for e in PAIRS}
    assert not set(baselines["tiny"]) & set(baselines["b"])


def test_a_family_cannot_move_to_other_data_or_lack_its_recordings(two_experiments):
    from schemas.experiment import Family

    config = (Family.Config & {"experiment": "tiny", "family": "MTL-Monkey"}).to_dicts()[0]
    model = {k: config[k] for k in ("model_fn", "model_hash")}
    trainer = {k: config[k] for k in ("trainer_fn", "trainer_hash")}
    with pytest.raises(ValueError, match="exists with kind 'mtl_monkey', image dataset 'tiny-tin'"):
        Family.define("tiny", "MTL-Monkey", "mtl_monkey", [(model, trainer)], [1], image_dataset="tiny-tin-b",
                      neural_dataset="virtual-tiny-b")
    with pytest.raises(ValueError, match="needs a neural dataset"):
        Family.define("c", "MTL-Monkey", "mtl_monkey", [(model, trainer)], [1], image_dataset="tiny-tin")
    assert not (Family & {"experiment": "c"})
