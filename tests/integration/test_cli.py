"""The command line against the configured backend, as separate processes."""

import json
import subprocess

from .helpers import REPO, register


def test_status_json_reports_every_table(clean, python, worker_env):
    register(seeds=[1, 2])
    out = subprocess.run(
        [python, "-m", "populate", "status", "--json"], cwd=REPO, env=worker_env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    rows = {row["table"]: row for row in report["tables"]}
    assert rows["training.TrainedModel"]["pending"] == 2
    assert rows["training.TrainedModel"]["done"] == 0


def test_schema_names_carry_the_prefix(pipeline_modules, backend):
    prefix = backend.env["PIPELINE_PREFIX"]
    assert all(module.schema.database.startswith(prefix) for module in pipeline_modules)


def test_interactive_deletes_ask_first_as_datajoint_users_expect(clean, python, worker_env):
    import subprocess

    from schemas.registry import Seed

    Seed.insert1((41,), skip_duplicates=True)
    script = ("import datajoint as dj\nfrom schemas.registry import Seed\nprint('safemode', dj.config['safemode'])\n"
              "(Seed & {'seed': 41}).delete()\n")
    out = subprocess.run([python, "-c", script], cwd=REPO, env=worker_env, input="no\n", capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "safemode True" in out.stdout
    assert Seed & {"seed": 41}  # the prompt was answered no: nothing deleted
