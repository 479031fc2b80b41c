"""The model kinds' recipes (schemas.kinds): the one place each kind is declared.

These checks need no database: schemas.kinds imports no stage module and never connects.
"""

import inspect

import pytest

from pipeline.config import ConfigError, check_config, function_path, resolve
from schemas import kinds


def test_the_stored_enums_are_derived_unchanged():
    # rows already stored hold these values: deriving them must not change them
    assert kinds.CLASSIFIER_KINDS == ("baseline", "oracle_stage1", "oracle", "mtl")
    assert kinds.NEURAL_KINDS == ("monkey_predictor", "oracle_readout", "mtl")
    assert kinds.FAMILY_KINDS == ("baseline", "oracle", "monkey_predictor", "mtl_monkey", "mtl_oracle", "mtl_shuffled")
    assert kinds.NEURAL_FAMILY_KINDS == ("monkey_predictor", "mtl_monkey", "mtl_oracle", "mtl_shuffled")
    assert kinds.enum(("a", "b")) == "enum('a', 'b')"


def test_every_declared_function_imports_and_takes_what_the_pipeline_passes():
    reserved = {"model": ("dataloaders", "seed"), "trainer": ("model", "dataloaders", "seed", "checkpoint")}
    for kind in kinds.KINDS:
        assert kind.trainers and (kind.builders or kind.name == "oracle"), kind.name  # the Oracle continues its stage 1
        for role, paths in (("model", kind.builders), ("trainer", kind.trainers)):
            for path in paths:
                params = inspect.signature(resolve(path)).parameters
                assert set(reserved[role]) <= set(params), (kind.name, path)
                assert kind.name in kinds.builtin_kinds(role, path)


def test_tables_families_and_reconstructions_map_to_kinds():
    assert [k.name for k in kinds.of_table("Classifier")] == ["baseline", "oracle_stage1"]
    assert kinds.of_family("oracle").table == "OracleStage2"
    assert all(kinds.of_family(f).name == "mtl" for f in ("mtl_monkey", "mtl_oracle", "mtl_shuffled"))
    assert kinds.reconstructed_by("baseline_oracle") == ("baseline", "oracle")
    assert kinds.reconstructed_by("mtl") == ("mtl",)
    assert {p: kinds.PRODUCER_OF_FAMILY[f] for p, (f, _) in kinds.MTL_FAMILY_OF_PRODUCER.items()} == {
        p: p for p in kinds.MTL_FAMILY_OF_PRODUCER}
    with pytest.raises(KeyError, match="unknown model kind 'vit'"):
        kinds.get("vit")
    with pytest.raises(KeyError, match="unknown family kind"):
        kinds.of_family("mtl")


def test_declare_marks_a_function_and_refuses_an_unknown_kind():
    @kinds.declare("baseline", "oracle_stage1")
    def build(dataloaders, seed):
        return None

    assert getattr(build, kinds.DECLARED_ATTR) == ("baseline", "oracle_stage1")
    with pytest.raises(KeyError, match="unknown model kind 'resnet'"):
        kinds.declare("resnet")


def test_a_function_is_named_by_an_importable_dotted_path():
    from pipeline.models.vgg import build_vgg_classifier

    assert function_path(build_vgg_classifier) == "pipeline.models.vgg.build_vgg_classifier"
    assert function_path("pipeline.models.mlp.build_mlp") == "pipeline.models.mlp.build_mlp"

    def local(dataloaders, seed):
        return None

    with pytest.raises(ConfigError, match="no importable dotted path"):
        function_path(local)
    with pytest.raises(ConfigError, match="not as a int"):
        function_path(3)
    # the path found must import as the very function (a wrapper of the same name is refused)
    wrapped = lambda dataloaders, seed: None  # noqa: E731
    wrapped.__module__, wrapped.__qualname__ = "pipeline.models.mlp", "build_mlp"
    with pytest.raises(ConfigError, match="does not import as the function given"):
        function_path(wrapped)
    check_config(function_path(build_vgg_classifier), {"width": 0.5}, ("dataloaders", "seed"))


def test_importing_every_stage_module_never_connects():
    """Tables are bound by schemas.activate(); an import alone must work with the database
    unreachable (here: a refused port) and must not start the embedded server."""
    import subprocess
    import sys
    from pathlib import Path

    script = ("import importlib, sys\nimport schemas\n"
              "modules = [importlib.import_module(n) for n in schemas.STAGES]\n"
              "from schemas.evaluation import ClassifierModel\n"
              "print(len(modules), 'pgserver' in sys.modules, ClassifierModel.__name__)\n")
    env = {"PATH": "/usr/bin:/bin", "DJ_HOST": "127.0.0.1", "DJ_PORT": "1", "DJ_BACKEND": "mysql",
           "PIPELINE_HOME": "/nonexistent/pipeline-home"}
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", script], cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["16", "False", "ClassifierModel"]
