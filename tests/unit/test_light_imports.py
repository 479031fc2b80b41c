"""The stage modules and the CLI import without torch: status, gc, claim-store and ingest's
checks run in processes that never train, and importing torch costs each of them over a second."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = """
import importlib, sys
import schemas
for name in schemas.STAGES:
    importlib.import_module(name)
import populate.cli
populate.cli.build_parser()
print(sorted(m for m in ("torch", "torchvision") if m in sys.modules))
"""


def test_stage_modules_and_cli_import_without_torch(tmp_path):
    # no database configured: importing a stage module declares its tables and never connects
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJ_", "PIPELINE_"))}
    env["PIPELINE_HOME"] = str(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    result = subprocess.run([sys.executable, "-c", PROGRAM], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]", (
        "importing the stage modules or populate.cli imported torch; run `python -X importtime -c 'import schemas.X'` "
        "to see which import brings it in, and import it where it is used")
