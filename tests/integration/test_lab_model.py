"""A lab's own model, from a module outside ``pipeline/``, trains like the paper's.

Registered with nnfabrik's keyword names and put into a family, it is trained by a worker
process (which finds it on PYTHONPATH), evaluated on TIN-TC and scored by Robustness
against the experiment's Baseline family, in a database that already holds the shared tiny
graph; an entry that no table would train is refused at registration. README, "Adding your
own model", shows the same calls.
"""

import os
import textwrap

import pytest

from .helpers import finish, start_worker

LAB_MODULE = '''
"""A lab's small CNN: the baseline kind's contract (forward, shared_block)."""
import torch
from torch import nn


class SmallCNN(nn.Module):
    def __init__(self, n_classes, channels):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.BatchNorm2d(2 * channels), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * channels, n_classes))

    def shared_block(self, x):
        return self.block(x)

    def forward(self, x):
        return self.head(self.block(x))


def build_small_cnn(dataloaders, seed, channels=8):
    torch.manual_seed(seed)
    return SmallCNN(int(dataloaders["n_classes"]), channels)
'''


@pytest.fixture
def lab_module(tmp_path, monkeypatch):
    """The package ``labzoo`` in a folder of its own, on PYTHONPATH and on the allow-list."""
    package = tmp_path / "labzoo"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text(textwrap.dedent(LAB_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PIPELINE_FUNCTION_PREFIXES", "labzoo.")
    yield tmp_path
    import sys

    for name in [m for m in sys.modules if m == "labzoo" or m.startswith("labzoo.")]:
        del sys.modules[name]


@pytest.mark.portable
@pytest.mark.extends_graph(last=True)  # its entries name a module only its own worker can import
def test_a_labs_classifier_is_trained_evaluated_and_scored_with_its_family(tiny_graph_to_extend, lab_module, python,
                                                                          worker_env):
    """On the shared tiny graph: its image set and TIN-TC are there, as in a lab's database."""
    from labzoo.models import build_small_cnn

    from populate import demo, profiles
    from schemas import kinds
    from schemas.classifier import Classifier
    from schemas.corruption import CorruptionSet, CorruptionSource
    from schemas.evaluation import ClassifierModel, Evaluation
    from schemas.experiment import Family
    from schemas.registry import FunctionKind, ModelConfig, RegistrationError, TrainerConfig
    from schemas.robustness import Robustness, family_members

    import schemas

    schemas.activate()  # as the README's snippet does (the test session has already: a no-op)
    spec = profiles.profile("tiny")
    image_set = demo.ensure_image_set(spec["image_set"])

    # no kind: no table would train it, so it is refused and nothing is stored
    kinds_before = len(FunctionKind())
    with pytest.raises(RegistrationError, match="no table would train it"):
        ModelConfig().add_entry("labzoo.models.build_small_cnn", {"channels": 4})
    assert not ModelConfig & {"model_fn": "labzoo.models.build_small_cnn"} and len(FunctionKind()) == kinds_before

    lab = ModelConfig().add_entry(model_fn=build_small_cnn, model_config={"channels": 4}, model_comment="lab CNN",
                                  kind="baseline")
    assert lab["model_fn"] == "labzoo.models.build_small_cnn"
    assert (FunctionKind & {"fn": lab["model_fn"]}).to_arrays("kind").tolist() == ["baseline"]
    with pytest.raises(RegistrationError, match="exists already"):
        ModelConfig().add_entry(model_fn=build_small_cnn, model_config={"channels": 4}, skip_duplicates=False)
    assert ModelConfig().add_entry(model_fn=build_small_cnn, model_config={"channels": 4}, skip_duplicates=True) == lab

    # the README's calls ("Adding your own model"), on the tiny image set, with the graph's
    # Baseline configuration: the same entries, so its Baseline is the graph's, trained already
    entries = tiny_graph_to_extend[0]
    vgg = ModelConfig().add_entry(kinds.get("baseline").builders[0], spec["classifier"])
    trainer = TrainerConfig().add_entry(trainer_fn=kinds.get("baseline").trainers[0],
                                        trainer_config={**spec["baseline"], **spec["budget"]})
    assert (vgg, trainer) == (entries["classifier"], entries["baseline"])
    Family.define("lab", "Baseline", "baseline", [(vgg, trainer)], [1], image_dataset=image_set)
    Family.define("lab", "Small CNN", "baseline", [(lab, trainer)], [1], image_dataset=image_set)
    tin_tc_sets = len(CorruptionSet())
    source = CorruptionSource.tin_tc(image_set)
    assert image_set == "tiny-tin"

    env = {**worker_env, "PYTHONPATH": os.pathsep.join([worker_env["PYTHONPATH"], str(lab_module)]),
           "PIPELINE_FUNCTION_PREFIXES": "labzoo."}
    summary = finish(start_worker(python, env, "--single", "--gc-min-age", "0",
                                  "--tables", "Classifier,CorruptionSet,Evaluation,Robustness"), timeout=900)
    assert not any(summary["errors"].values()), summary

    # Classifier trains every registry combination of its kinds (nnfabrik's way), so the lab's
    # CNN is trained with each Baseline trainer and seed of this database; the family's is this one
    planned = {**lab, **trainer, "seed": 1, "image_dataset": image_set}
    trained = (Classifier & planned).fetch1()
    assert 0 <= trained["test_accuracy"] <= 1 and trained["output"]["stop_reason"]
    model = Classifier().load_model((Classifier & planned).fetch1("KEY"), device="cpu")
    assert type(model).__name__ == "SmallCNN" and not model.training

    entry = (ClassifierModel.FromClassifier & planned).fetch1()
    assert (ClassifierModel & entry).fetch1("kind") == "baseline"
    evaluation = Evaluation & entry & source
    assert len(evaluation) == 1 and len(Evaluation.Condition & entry & source) == 70
    assert len(CorruptionSet()) == tin_tc_sets  # evaluated on the graph's TIN-TC, not a second one

    members, planned = family_members({"experiment": "lab", "family": "Small CNN"})
    assert planned == 1 and [m["classifier_id"] for m in members] == [entry["classifier_id"]]
    score = (Robustness & {"experiment": "lab", "family": "Small CNN"} & source).fetch1()
    assert score["reference_family"] == "Baseline" and score["n_models"] == 1
    assert score["score_low"] <= score["score"] <= score["score_high"]
    assert len(Robustness.Member & {"experiment": "lab", "family": "Small CNN"}) == 1
    # the Baseline family scores itself at exactly 1
    assert (Robustness & {"experiment": "lab", "family": "Baseline"} & source).fetch1("score") == pytest.approx(1.0)


@pytest.mark.portable
def test_a_declared_kind_needs_no_kind_argument_and_an_unknown_kind_is_refused(clean, lab_module):
    import labzoo.models

    from schemas import kinds
    from schemas.registry import ModelConfig, RegistrationError, TrainerConfig, functions_of, pairs_of

    with pytest.raises(RegistrationError, match="unknown kind 'resnet'"):
        ModelConfig().add_entry(labzoo.models.build_small_cnn, {}, kind="resnet")
    # the Oracle's second stage continues its stage-1 model: a builder of that kind would never be used
    with pytest.raises(RegistrationError, match="register the builder as oracle_stage1"):
        ModelConfig().add_entry(labzoo.models.build_small_cnn, {}, kind="oracle")
    kinds.declare("oracle_stage1")(labzoo.models.build_small_cnn)
    key = ModelConfig().add_entry(labzoo.models.build_small_cnn, {})
    assert functions_of("oracle_stage1", "model")[-1] == key["model_fn"]
    assert {"model_fn": key["model_fn"], "trainer_fn": kinds.get("oracle_stage1").trainers[0]} in pairs_of("oracle_stage1")
    assert key["model_fn"] not in functions_of("baseline", "model")
    # the pipeline's own functions carry their kinds: no row, no argument
    TrainerConfig().add_entry("pipeline.training.classification.train_classifier", {"max_epochs": 1})
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        ModelConfig().add_entry(labzoo.models.build_small_cnn, {}, trainer_fn="x")
    with pytest.raises(TypeError, match="given twice"):
        ModelConfig().add_entry(labzoo.models.build_small_cnn, model_fn=labzoo.models.build_small_cnn)
