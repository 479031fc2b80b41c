"""The config-hash registry on a real server."""

import pytest

from pipeline.config import ConfigError, config_hash

from .helpers import register


@pytest.mark.portable
def test_unknown_config_key_is_rejected_with_its_name_and_nothing_is_inserted(clean):
    from schemas.registry import ModelConfig

    with pytest.raises(ConfigError, match="hiddn"):
        ModelConfig().add_entry("pipeline.models.mlp.build_mlp", {"hiddn": [4]})
    assert len(ModelConfig()) == 0


@pytest.mark.portable
def test_unimportable_function_is_rejected(clean):
    from schemas.registry import TrainerConfig

    with pytest.raises(ConfigError, match="pipeline.training.no_such"):
        TrainerConfig().add_entry("pipeline.training.no_such", {})
    assert len(TrainerConfig()) == 0


@pytest.mark.backend_specific
def test_entries_are_keyed_by_function_and_typed_hash(clean):
    from schemas.registry import DatasetConfig

    fn = "pipeline.data.synthetic.gaussian_clusters"
    first = DatasetConfig().add_entry(fn, {"n_classes": 3, "n_features": 4})
    again = DatasetConfig().add_entry(fn, {"n_features": 4, "n_classes": 3})
    other = DatasetConfig().add_entry(fn, {"n_features": 4, "n_classes": 3.0})
    assert first == again
    assert first["dataset_hash"] == config_hash(fn, {"n_classes": 3, "n_features": 4})
    assert other != first
    assert len(DatasetConfig()) == 2
    fn_back, config_back = DatasetConfig().fn_config(first)
    assert fn_back == fn and config_back == {"n_classes": 3, "n_features": 4}


@pytest.mark.backend_specific
def test_registry_rows_are_plain_sql(clean, backend):
    """People run SQL over the tables with their own client, not only through DataJoint."""
    from schemas import connection
    from schemas.registry import ModelConfig

    key = ModelConfig().add_entry("pipeline.models.mlp.build_mlp", {"hidden": [8, 8]}, comment="sql check")
    env = backend.env
    table = f"{connection.schema_name('registry')}"
    if connection.backend() == "mysql":
        import mysql.connector

        client = mysql.connector.connect(
            host=env["DJ_HOST"], port=int(env["DJ_PORT"]), user=env["DJ_USER"], password=env.get("DJ_PASS", "")
        )
        query = f"SELECT model_fn, model_hash, model_comment FROM `{table}`.`model_config`"
    else:
        import psycopg2

        if connection.is_embedded():
            host, port, user = connection.dj.config["database.host"], 5432, "postgres"
        else:
            host, port, user = env["DJ_HOST"], int(env["DJ_PORT"]), env["DJ_USER"]
        client = psycopg2.connect(host=host, port=port, user=user, dbname="postgres")
        query = f'SELECT model_fn, model_hash, model_comment FROM "{table}"."model_config"'
    try:
        cursor = client.cursor()
        cursor.execute(query)
        rows = cursor.fetchall()
    finally:
        client.close()
    assert rows == [(key["model_fn"], key["model_hash"], "sql check")]


@pytest.mark.backend_specific
def test_every_attribute_carries_a_comment(pipeline_modules):
    import datajoint as dj

    tables = [
        obj
        for module in pipeline_modules
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, dj.Table) and obj.__module__ == module.__name__ and hasattr(obj, "definition")
    ]
    assert tables
    for table in tables:
        for line in table.definition.strip().splitlines():
            line = line.strip()
            if not line or line.startswith(("#", "->", "---")):
                continue
            assert "#" in line, f"{table.__name__}: attribute without a comment: {line!r}"


@pytest.mark.portable
def test_seed_lookup(clean):
    from schemas.registry import Seed

    register(seeds=[7, 8])
    assert sorted(Seed().to_arrays("seed").tolist()) == [7, 8]


@pytest.mark.portable
def test_a_function_outside_the_allow_list_is_refused_when_added_and_when_run(clean):
    from pipeline.config import ConfigError, config_hash
    from schemas.registry import DatasetConfig, ModelConfig, Seed, TrainerConfig
    from schemas.training import TrainedModel

    with pytest.raises(ConfigError, match="'torch.hub.load' is outside the allowed function prefixes"):
        ModelConfig().add_entry("torch.hub.load", {"repo_or_dir": "someone/repo", "model": "x"})
    assert len(ModelConfig()) == 0
    # a row written past add_entry (raw insert, another client) is refused at run time
    Seed.insert1((1,), skip_duplicates=True)
    ModelConfig().add_entry("pipeline.models.mlp.build_mlp", {})
    TrainerConfig().add_entry("pipeline.training.train_classifier", {"max_epochs": 1})
    DatasetConfig.insert1({"dataset_fn": "os.system", "dataset_hash": config_hash("os.system", {"command": "true"}),
                           "dataset_config": {"command": "true"}, "dataset_comment": "hostile"})
    result = TrainedModel.populate(reserve_jobs=True, suppress_errors=True)
    assert result["success_count"] == 0 and "'os.system' is outside the allowed function prefixes" in str(result["error_list"])
    assert len(TrainedModel()) == 0
