"""Registry content and process helpers shared by the integration tests."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SMALL_DATA = {"n_train": 400, "n_validation": 100, "n_features": 8, "n_classes": 3}
# Large enough that one epoch takes a noticeable fraction of a second on 2 cores, so a
# test can stop or kill a worker between two checkpoints of the same job.
SLOW_DATA = {"n_train": 40000, "n_validation": 2000, "n_features": 64, "n_classes": 4}
# a few seconds per job: long enough to disturb workers in the middle of one
MEDIUM_DATA = {"n_train": 12000, "n_validation": 1000, "n_features": 32, "n_classes": 4}


def register(seeds, data=SMALL_DATA, epochs=2, hidden=(16,)):
    import schemas

    schemas.activate()  # a no-op where the tests' session has; a script of its own binds the tables here
    from schemas.registry import DatasetConfig, ModelConfig, Seed, TrainerConfig

    Seed.insert([(s,) for s in seeds], skip_duplicates=True)
    return {
        **DatasetConfig().add_entry("pipeline.data.synthetic.gaussian_clusters", data),
        **ModelConfig().add_entry("pipeline.models.mlp.build_mlp", {"hidden": list(hidden)}),
        **TrainerConfig().add_entry("pipeline.training.train_classifier", {"max_epochs": epochs, "lr": 0.05, "momentum": 0.9, "batch_size": 64}),
    }


def start_worker(python, env, *extra):
    return subprocess.Popen(
        [python, "-m", "populate", "worker", "--quiet", "--maintenance", "1", "--poll", "0.5", *extra],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process, timeout=300) -> dict:
    """Wait for a worker and return its JSON summary; fail with its stderr otherwise."""
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"worker exited {process.returncode}:\n{err[-4000:]}"
    for line in out.splitlines():
        if line.startswith('{"worker_summary"'):
            return json.loads(line)["worker_summary"]
    raise AssertionError(f"no summary from the worker:\n{out[-2000:]}\n{err[-4000:]}")


def one_error_line(out: subprocess.CompletedProcess) -> str:
    """The one ``error:`` line of a CLI run refused for the user's input: exit 2, no traceback."""
    assert out.returncode == 2, (out.returncode, out.stdout[-2000:], out.stderr[-4000:])
    assert "Traceback" not in out.stderr, out.stderr[-4000:]
    lines = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, out.stderr[-4000:]
    return lines[0]


def wait_for(predicate, timeout=120, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Lines:
    """The lines a process writes to one of its pipes, read as they come (a thread), so a
    test can wait for one without blocking on the pipe."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream):
        for line in stream:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 120) -> str:
        return wait_for(lambda: next((line for line in self.lines if text in line), None), timeout=timeout,
                        what=f"a line saying {text!r}")

    def text(self, timeout: float = 30) -> str:
        self._thread.join(timeout)
        return "".join(self.lines)
