"""The fleet files cannot run here (no Docker engine); check what can be checked."""

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
EXAMPLE = dict(
    line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines() if line and not line.startswith("#")
)


def _substitute(text: str) -> str:
    """Compose's ${VAR} and ${VAR:-default} interpolation, with the example .env."""
    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: EXAMPLE.get(m.group(1), m.group(2) or ""), text)


def test_services():
    assert {"db", "minio", "minio-init", "worker", "jupyter"} <= set(COMPOSE["services"])
    assert COMPOSE["services"]["db"]["image"] == "mysql:8.0"
    assert COMPOSE["services"]["minio"]["image"].startswith("minio/minio")


def test_database_is_tuned_for_long_jobs():
    flags = " ".join(COMPOSE["services"]["db"]["command"])
    for flag in ("--max_allowed_packet", "--wait_timeout", "--net_read_timeout", "--innodb_lock_wait_timeout"):
        assert flag in flags


def test_workers_reserve_gpus_and_can_be_scaled():
    worker = COMPOSE["services"]["worker"]
    assert "container_name" not in worker  # a fixed name would forbid --scale
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert worker["command"][:4] == ["python", "-m", "populate", "worker"]


def test_workers_are_configured_through_the_variables_the_code_reads():
    env = COMPOSE["services"]["worker"]["environment"]
    code = (ROOT / "schemas" / "connection.py").read_text()
    for name in ("DJ_HOST", "DJ_PORT", "DJ_USER", "DJ_PASS", "DJ_BACKEND", "DJ_STORES", "PIPELINE_PREFIX", "PIPELINE_HOME"):
        assert name in env, name
        assert name in code, name
    assert env["DJ_BACKEND"] == "mysql"
    assert env["DJ_USER"] == "${WORKER_USER}" and "MYSQL_ROOT_PASSWORD" not in json.dumps(env)


def test_store_settings_are_a_valid_s3_store(monkeypatch):
    from schemas.connection import STORE, _store_settings  # first: it quiets DataJoint's import warnings

    import datajoint as dj

    env = COMPOSE["services"]["worker"]["environment"]
    monkeypatch.setenv("DJ_STORES", _substitute(env["DJ_STORES"]))
    stores = _store_settings()
    with dj.config.override(stores={**stores, "default": STORE}):
        spec = dj.config.get_store_spec(STORE)
    assert spec["protocol"] == "s3" and spec["endpoint"] == "minio:9000" and spec["secure"] is False


def test_every_compose_variable_has_an_example_value():
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{(\w+)(?::-[^}]*)?\}", text))
    assert used - set(EXAMPLE) == set()


def test_env_file_is_never_committed():
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", ".env"], capture_output=True, text=True).stdout
    assert tracked.strip() == ""


@pytest.mark.parametrize("path", ["Dockerfile", "environment.yml"])
def test_images_install_from_pyproject(path):
    text = (ROOT / path).read_text()
    assert "pyproject.toml" in text
    assert "torch==" not in text  # versions live in pyproject.toml only


def test_init_scripts_exist_and_create_a_non_root_user():
    script = (ROOT / "docker" / "mysql-init" / "01-worker-user.sh").read_text()
    assert "CREATE USER" in script and "GRANT ALL PRIVILEGES ON *.*" not in script
    assert (ROOT / "docker" / "minio-init" / "create-bucket.sh").exists()
