"""Database backends the integration tests run against, selected by PIPELINE_TEST_BACKEND.

* ``postgresql``: the PostgreSQL 15 service at 127.0.0.1:5432 (trust auth);
* ``mariadb``: the MariaDB 10.11 service at 127.0.0.1:3306 (root, empty password);
* ``embedded``: no DJ_HOST at all, so the pipeline starts its embedded PostgreSQL;
* ``mysql8``: a MySQL 8.4 LTS container (compose's image) started with the ``docker`` package, where a Docker
  engine is reachable (skipped, with the reason, where none is).

Each pytest run gets its own schema prefix and PIPELINE_HOME, so runs never see each
other's tables or store files.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time


@dataclasses.dataclass
class Backend:
    name: str
    env: dict  # environment variables that point the pipeline at this backend
    skip_reason: str | None = None
    container: object = None


def container_engine_configured() -> bool:
    """Whether this machine names a container engine at all (DOCKER_HOST or the default socket)."""
    return bool(os.environ.get("DOCKER_HOST")) or os.path.exists("/var/run/docker.sock")


class BackendUnreachable(RuntimeError):
    """A backend the tests were asked to run cannot be used: the run fails, it is not skipped."""


def _mysql8_container() -> tuple[dict, object] | str:
    """(settings, container), or the reason to skip: only that no container engine exists.
    An engine that exists but fails (refused connection, an image that does not start) is
    an error, so that a broken leg never passes as skipped."""
    if not container_engine_configured():
        return "MySQL 8 needs a container engine and this machine has none (no DOCKER_HOST, no /var/run/docker.sock)"
    try:
        import docker

        client = docker.from_env(timeout=5)
        client.ping()
    except Exception as err:
        raise BackendUnreachable(f"a container engine is configured but unusable ({type(err).__name__}: {err})") from err
    container = client.containers.run(
        "mysql:8.4",
        detach=True,
        remove=True,
        environment={"MYSQL_ROOT_PASSWORD": "test"},
        ports={"3306/tcp": None},
        command=["--max_allowed_packet=1G"],
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        container.reload()
        port = container.attrs["NetworkSettings"]["Ports"].get("3306/tcp")
        if port and container.exec_run("mysqladmin -uroot -ptest ping").exit_code == 0:
            env = {"DJ_HOST": "127.0.0.1", "DJ_PORT": port[0]["HostPort"], "DJ_USER": "root", "DJ_PASS": "test", "DJ_BACKEND": "mysql"}
            return env, container
        time.sleep(2)
    container.stop()
    raise BackendUnreachable("the MySQL 8 container did not become ready within 120 s")


def _require_listening(name: str, port: int) -> None:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except OSError as err:
        raise BackendUnreachable(f"PIPELINE_TEST_BACKEND={name}: nothing answers at 127.0.0.1:{port} ({err})") from None


#: the leg that runs the portable tests when PIPELINE_TEST_PORTABLE does not say
PORTABLE_LEG = "postgresql"


def runs_portable_tests(name: str) -> bool:
    """Whether this leg runs the tests marked ``portable`` (behaviour that no backend changes).
    ``PIPELINE_TEST_PORTABLE=1`` or ``0`` decides; by default only the postgresql leg runs them,
    so that ``make test`` checks each portable behaviour once, not once per backend."""
    chosen = os.environ.get("PIPELINE_TEST_PORTABLE", "").strip().lower()
    if chosen in ("1", "yes", "true"):
        return True
    if chosen in ("0", "no", "false"):
        return False
    if chosen:
        raise ValueError(f"PIPELINE_TEST_PORTABLE={chosen!r}: expected 1 or 0")
    return name == PORTABLE_LEG


def select() -> Backend:
    name = os.environ.get("PIPELINE_TEST_BACKEND", "postgresql")
    home = tempfile.mkdtemp(prefix=f"pipeline-test-{name}-")
    # every epoch checkpointed: the tests' jobs last seconds, and the resume and kill tests
    # need a checkpoint to exist (test_training checks the default interval on its own)
    common = {"PIPELINE_HOME": home, "PIPELINE_PREFIX": f"t{os.getpid()}_", "PIPELINE_CHECKPOINT_SECONDS": "0"}
    if name == "postgresql":
        env = {"DJ_HOST": "127.0.0.1", "DJ_PORT": "5432", "DJ_USER": "postgres", "DJ_PASS": "", "DJ_BACKEND": "postgresql"}
        _require_listening(name, 5432)
        return Backend(name, {**common, **env})
    if name == "mariadb":
        env = {"DJ_HOST": "127.0.0.1", "DJ_PORT": "3306", "DJ_USER": "root", "DJ_PASS": "", "DJ_BACKEND": "mysql"}
        _require_listening(name, 3306)
        return Backend(name, {**common, **env})
    if name == "embedded":
        return Backend(name, {**common, "DJ_HOST": ""})
    if name == "mysql8":
        started = _mysql8_container()
        if isinstance(started, str):
            return Backend(name, common, skip_reason=started)
        env, container = started
        return Backend(name, {**common, **env}, container=container)
    raise ValueError(f"PIPELINE_TEST_BACKEND={name!r}: expected postgresql, mariadb, embedded or mysql8")
