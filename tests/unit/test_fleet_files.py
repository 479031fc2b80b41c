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
    return re.sub(r"\$\{(\w+)(?::[-?]([^}]*))?\}", lambda m: EXAMPLE.get(m.group(1), m.group(2) or ""), text)


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
    used = set(re.findall(r"\$\{(\w+)(?::[-?][^}]*)?\}", text))
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


def test_every_published_port_binds_to_loopback_by_default():
    for name, service in COMPOSE["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("${BIND_ADDRESS:-127.0.0.1}:"), (name, port)
    assert EXAMPLE["BIND_ADDRESS"] == "127.0.0.1"


def test_no_password_or_token_on_a_command_line():
    secrets = ("MYSQL_ROOT_PASSWORD", "WORKER_PASSWORD", "NOTEBOOK_PASSWORD", "MINIO_ROOT_PASSWORD", "STORE_PASSWORD",
               "JUPYTER_TOKEN")
    for name, service in COMPOSE["services"].items():
        argv = json.dumps([service.get("command", []), service.get("entrypoint", []), service.get("healthcheck", {})])
        assert not any(secret in argv for secret in secrets), name
    for script in (ROOT / "docker").rglob("*.sh"):
        text = script.read_text()
        assert not re.search(r"-p[\"']?\$", text), script  # mysql -p$PASSWORD puts it in argv
        for line in text.splitlines():
            if line.strip().startswith(("mc ", "mysql ", "mysqladmin ")):
                assert "PASSWORD" not in line, (script, line)
        assert "|| true" not in text, script  # setup errors fail loudly


def test_jupyter_needs_its_token_and_is_not_root():
    jupyter = COMPOSE["services"]["jupyter"]
    assert "--allow-root" not in jupyter["command"] and not jupyter["user"].startswith(("0", "root"))
    assert jupyter["environment"]["JUPYTER_TOKEN"].startswith("${JUPYTER_TOKEN:?")
    assert jupyter["environment"]["DJ_USER"] == "${NOTEBOOK_USER}"


def test_every_service_refuses_the_placeholders(tmp_path):
    script = ROOT / "docker" / "fleet" / "refuse-placeholders.sh"
    for name, service in COMPOSE["services"].items():
        assert service["entrypoint"][:2] == ["/bin/sh", "/fleet/refuse-placeholders.sh"], name
    marker = tmp_path / "ran"
    base = {"PATH": "/usr/bin:/bin"}
    for value, runs in (("change-me-root", False), ("", False), ("s3cret-value", True)):
        out = subprocess.run(["sh", str(script), "touch", str(marker)], env={**base, "MYSQL_ROOT_PASSWORD": value},
                             capture_output=True, text=True)
        assert (out.returncode == 0) == runs and marker.exists() == runs, (value, out.stderr)
        if not runs:
            assert out.returncode == 64 and "MYSQL_ROOT_PASSWORD" in out.stderr
        marker.unlink(missing_ok=True)
    assert subprocess.run(["sh", str(script), "true"], env=base).returncode == 0  # secrets a service does not use


def test_the_store_user_may_only_touch_the_buckets_objects():
    text = (ROOT / "docker" / "minio-init" / "create-bucket.sh").read_text()
    policy = json.loads(re.search(r"<<JSON\n(.*?)\nJSON", text, re.S).group(1).replace("$STORE_BUCKET", "bucket"))
    actions = {a for statement in policy["Statement"] for a in statement["Action"]}
    assert "s3:*" not in actions and not any(a.startswith(("s3:PutBucket", "s3:DeleteBucket", "admin:")) for a in actions)
    assert all(r.startswith("arn:aws:s3:::bucket") for st in policy["Statement"] for r in st["Resource"])
