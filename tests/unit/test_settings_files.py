"""datajoint.json and .secrets/ are read when present, the environment wins, and PIPELINE_HOME
does not depend on the current directory. configure() for a server does not connect."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json
from schemas import connection
import datajoint as dj
connection.configure()
print(json.dumps({"host": dj.config["database.host"], "port": dj.config["database.port"],
                  "backend": dj.config["database.backend"], "user": dj.config["database.user"],
                  "password": dj.config["database.password"].get_secret_value() if hasattr(dj.config["database.password"], "get_secret_value") else dj.config["database.password"],
                  "store": dj.config["stores"]["artifacts"], "embedded": connection.is_embedded(),
                  "home": str(connection.pipeline_home()), "describe": connection.describe(),
                  "where_store": connection.describe_store()}))
"""


def _probe(cwd: Path, **env) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJ_", "PIPELINE_"))}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=cwd, env={**clean, "PYTHONPATH": str(ROOT), **env},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "lab-project"
    (project / ".secrets").mkdir(parents=True)
    (project / "notebooks").mkdir()
    (project / "datajoint.json").write_text(json.dumps({
        "database": {"host": "db.lab.example", "port": 3307, "backend": "mysql", "user": "analyst"},
        "stores": {"artifacts": {"protocol": "s3", "endpoint": "store.lab.example:8333", "bucket": "cotrain",
                                 "location": "cotrain_", "access_key": "analyst-key", "secure": False}},
    }))
    (project / ".secrets" / "database.password").write_text("from-secrets\n")
    (project / ".secrets" / "stores.artifacts.secret_key").write_text("store-secret\n")
    return project


def test_datajoint_json_and_secrets_are_read_from_a_subfolder_of_the_project(tmp_path):
    result = _probe(_project(tmp_path) / "notebooks")
    assert result["host"] == "db.lab.example" and result["port"] == 3307 and result["user"] == "analyst"
    assert result["password"] == "from-secrets" and not result["embedded"]
    assert result["store"]["endpoint"] == "store.lab.example:8333" and result["store"]["secret_key"] == "store-secret"
    assert result["describe"] == "mysql at db.lab.example:3307"
    assert result["where_store"] == "s3 bucket 'cotrain' at store.lab.example:8333, under 'cotrain_'"


def test_the_environment_wins_over_the_files(tmp_path):
    result = _probe(_project(tmp_path), DJ_HOST="127.0.0.1", DJ_PORT="5432", DJ_BACKEND="postgresql", DJ_USER="postgres",
                    DJ_PASS="", DJ_STORES=json.dumps({"artifacts": {"protocol": "file", "location": str(tmp_path / "s")}}))
    assert result["host"] == "127.0.0.1" and result["port"] == 5432 and result["backend"] == "postgresql"
    assert result["user"] == "postgres" and result["password"] == ""
    assert result["store"] == {"protocol": "file", "location": str(tmp_path / "s")}


def test_pipeline_home_is_the_checkouts_whatever_the_current_directory(tmp_path):
    """Run from another folder, a command sees the checkout's database, not an empty new one."""
    elsewhere = tmp_path / "somewhere-else"
    elsewhere.mkdir()
    code = "from schemas import connection; print(connection.pipeline_home())"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJ_", "PIPELINE_"))}
    out = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env={**clean, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == str(ROOT / ".pipeline"), out.stderr
    out = subprocess.run([sys.executable, "-c", code], cwd=elsewhere,
                         env={**clean, "PYTHONPATH": str(ROOT), "PIPELINE_HOME": "~/lab-home"}, capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.strip() == str(Path("~/lab-home").expanduser()), out.stderr
