"""The registry's key: a canonical, type-tagged hash of a builder's configuration."""

import math

import numpy as np
import pytest

from pipeline.config import ConfigError, canonical_json, check_config, config_hash, plain

FN = "pipeline.models.mlp.build_mlp"


@pytest.mark.parametrize(
    "a, b",
    [
        ({"x": 1}, {"x": "1"}),
        ({"x": [1, 2]}, {"x": (1, 2)}),
        ({"x": None}, {"x": "None"}),
        ({"x": 1}, {"x": 1.0}),
        ({"x": True}, {"x": 1}),
        ({"x": {"y": 1}}, {"x": {"y": [1]}}),
        ({"x": 0.1}, {"x": 0.1000000000000001}),
    ],
)
def test_values_of_different_types_or_values_hash_differently(a, b):
    assert config_hash(FN, a) != config_hash(FN, b)


def test_key_order_does_not_matter_at_any_depth():
    a = {"a": 1, "b": {"c": 2, "d": [3, {"e": 4, "f": 5}]}}
    b = {"b": {"d": [3, {"f": 5, "e": 4}], "c": 2}, "a": 1}
    assert config_hash(FN, a) == config_hash(FN, b)
    assert canonical_json(a) == canonical_json(b)


def test_function_path_is_part_of_the_key():
    assert config_hash(FN, {}) != config_hash("pipeline.models.mlp.other", {})


def test_numpy_scalars_hash_like_python_values():
    assert config_hash(FN, {"x": np.int64(3), "y": np.float32(0.5)}) == config_hash(FN, {"x": 3, "y": 0.5})


def test_hash_is_32_hex_characters_and_stable():
    h = config_hash(FN, {"hidden": [64]})
    assert len(h) == 32 and int(h, 16) >= 0
    assert h == config_hash(FN, {"hidden": [64]})


def test_non_finite_floats_are_distinct():
    assert len({config_hash(FN, {"x": v}) for v in (math.inf, -math.inf, math.nan, 0.0)}) == 4


def test_unsupported_value_is_rejected_with_its_path():
    with pytest.raises(ConfigError, match=r"a\.b.*set"):
        canonical_json({"a": {"b": {1, 2}}})


def test_non_string_key_is_rejected():
    with pytest.raises(ConfigError, match="keys must be strings"):
        canonical_json({"a": {1: "x"}})


def test_plain_turns_tuples_into_lists():
    assert plain({"x": (1, 2), "y": np.int32(4)}) == {"x": [1, 2], "y": 4}


def test_check_config_accepts_known_keys():
    fn = check_config(FN, {"hidden": [8], "dropout": 0.1}, reserved=("dataloaders", "seed"))
    assert fn.__name__ == "build_mlp"


def test_check_config_names_an_unknown_key():
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) \['hiden'\]"):
        check_config(FN, {"hiden": [8]}, reserved=("dataloaders", "seed"))


def test_check_config_rejects_reserved_keys():
    with pytest.raises(ConfigError, match="seed"):
        check_config(FN, {"seed": 3}, reserved=("dataloaders", "seed"))


def test_check_config_requires_required_parameters():
    with pytest.raises(ConfigError, match="lacks required"):
        check_config("pipeline.training.checkpoint.TrainingInterrupted", {}, reserved=())


def test_check_config_names_unimportable_functions():
    with pytest.raises(ConfigError, match="no_such_module"):
        check_config("pipeline.no_such_module.fn", {}, reserved=())
    with pytest.raises(ConfigError, match="has no attribute 'nope'"):
        check_config("pipeline.models.mlp.nope", {}, reserved=())


def test_check_config_requires_the_parameters_the_pipeline_passes():
    with pytest.raises(ConfigError, match="must accept"):
        check_config("pipeline.data.synthetic.gaussian_clusters", {}, reserved=("seed", "dataloaders"))


def test_only_functions_under_the_allowed_prefixes_are_imported(monkeypatch, tmp_path):
    import sys

    from pipeline.config import resolve

    for outside in ("torch.hub.load", "os.system", "pipelinex.evil.run", "builtins.eval"):
        with pytest.raises(ConfigError, match="outside the allowed function prefixes"):
            resolve(outside)
    # a lab's own module, on the path: refused until its prefix is configured, never imported before
    (tmp_path / "mylab_models.py").write_text("IMPORTED = True\ndef build(dataloaders, seed):\n    return None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("PIPELINE_FUNCTION_PREFIXES", raising=False)
    with pytest.raises(ConfigError, match="PIPELINE_FUNCTION_PREFIXES"):
        resolve("mylab_models.build")
    assert "mylab_models" not in sys.modules
    monkeypatch.setenv("PIPELINE_FUNCTION_PREFIXES", "mylab_models")
    assert resolve("mylab_models.build").__name__ == "build"
