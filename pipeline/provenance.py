"""What produced a result: package versions, the project's git commit, device, wall time."""

from __future__ import annotations

import functools
import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("torch", "torchvision", "numpy", "datajoint", "neuralpredictors", "imagecorruptions-imaug")
_PROJECT_ROOT = Path(__file__).resolve().parent.parent


def package_versions(packages=PACKAGES) -> dict[str, str]:
    return dict(_package_versions(tuple(packages)))


@functools.cache  # a process runs the packages it imported: looked up once, not per job
def _package_versions(packages: tuple[str, ...]) -> dict[str, str]:
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(root: Path = _PROJECT_ROOT) -> str | None:
    """The checkout's commit (with '-dirty' when it has changes), or None outside git.

    Asked once per process: a worker runs the code it imported at its start (a new commit
    takes a new worker), and two git calls per job cost a trivial job more than its work.
    A failure (git missing, or its 5 s timeout under load) is not kept: the next job asks again.
    """
    if root in _COMMITS:
        return _COMMITS[root]
    commit = _ask_git(root)
    if commit is not None:
        _COMMITS[root] = commit
    return commit


_COMMITS: dict[Path, str] = {}


def _ask_git(root: Path) -> str | None:
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if dirty else commit


def code_version() -> str:
    """What a checkpoint belongs to besides its configuration: the git commit, or, outside a
    checkout (an image built without .git), the installed project's version."""
    commit = git_commit()
    if commit:
        return commit
    try:
        return "package " + metadata.version("cotrain-pipeline")
    except metadata.PackageNotFoundError:
        return "unknown"


def describe_device(device) -> str:
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda:{device.index or 0} {torch.cuda.get_device_name(device)}"
    return f"cpu {platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def record(device, wall_time_s: float, **extra) -> dict:
    """The provenance dictionary stored with each trained row."""
    return {
        "packages": package_versions(),
        "python": platform.python_version(),
        "git_commit": git_commit(),
        "host": platform.node(),
        "device": describe_device(device),
        "wall_time_s": round(float(wall_time_s), 3),
        **extra,
    }
