"""The fleet's job bookkeeping on a real server: reservations survive a reconnect, the
PROCESS privilege is read from the parsed grants, and a lost job is re-queued only as it
was read, whatever connection id the server reuses."""

import time

import pytest

from .conftest import BACKEND
from .helpers import MEDIUM_DATA, finish, register, start_worker, wait_for

pytestmark = pytest.mark.backend_specific


def _reservation(key, connection_id, reserved_time):
    from schemas.training import TrainedModel

    TrainedModel.jobs.refresh(delay=-1)
    TrainedModel.jobs.update1({**key, "status": "reserved", "connection_id": connection_id, "reserved_time": reserved_time,
                               "host": "elsewhere", "pid": 1})


def test_a_reservation_under_a_reused_connection_id_is_requeued_after_the_grace(clean):
    from populate import jobs
    from schemas.training import TrainedModel

    key = {**register(seeds=[9]), "seed": 9}
    live = TrainedModel.connection.connection_id
    # an id that is alive now, but the reservation is older than that connection (and than
    # the server's start): the worker that made it is gone and the id was handed out again
    _reservation(key, live, "2000-01-01 00:00:00")
    assert jobs.recover(TrainedModel, dead_grace_s=30)["dead"] == 0  # first seen gone: its worker may be reconnecting
    assert len(TrainedModel.jobs.reserved) == 1
    assert jobs.recover(TrainedModel, dead_grace_s=0)["dead"] == 1
    assert len(TrainedModel.jobs.reserved) == 0


def test_a_reservation_adopted_during_the_grace_is_kept(clean):
    from populate import jobs
    from schemas.training import TrainedModel

    key = {**register(seeds=[9]), "seed": 9}
    _reservation(key, 2**40, "2000-01-01 00:00:00")  # an id no server has handed out
    assert jobs.recover(TrainedModel, dead_grace_s=30)["dead"] == 0
    # its worker reconnected and moved the reservation to its new connection (adopt_reservations)
    live = TrainedModel.connection.connection_id
    TrainedModel.jobs.update1({**key, "connection_id": live, "reserved_time": time.strftime("%Y-%m-%d %H:%M:%S")})
    assert jobs.recover(TrainedModel, dead_grace_s=0)["dead"] == 0
    assert len(TrainedModel.jobs.reserved) == 1


def test_the_process_privilege_is_parsed_from_the_grants():
    from populate.jobs import has_process_privilege

    assert not has_process_privilege(["GRANT USAGE ON *.* TO `dataprocessor`@`%`",
                                      "GRANT SELECT, INSERT ON `cotrain\\_%`.* TO `dataprocessor`@`%`"])
    assert not has_process_privilege(["GRANT ALL PRIVILEGES ON `lab`.* TO `u`@`%`"])
    assert has_process_privilege(["GRANT SELECT, PROCESS ON *.* TO `monitor`@`%`"])
    assert has_process_privilege(["GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"])


@pytest.mark.skipif(BACKEND.name not in ("mariadb", "mysql8"), reason="MySQL/MariaDB grants")
def test_a_user_named_like_a_privilege_is_not_granted_it(clean):
    from populate.jobs import has_process_privilege
    from schemas.training import TrainedModel

    conn = TrainedModel.connection
    conn.query("CREATE USER IF NOT EXISTS 'dataprocessor'@'localhost'")
    try:
        conn.query("GRANT SELECT ON `mysql`.* TO 'dataprocessor'@'localhost'")
        grants = [row[0] for row in conn.query("SHOW GRANTS FOR 'dataprocessor'@'localhost'").fetchall()]
        assert any("dataprocessor" in g for g in grants) and not has_process_privilege(grants)
        assert has_process_privilege([row[0] for row in conn.query("SHOW GRANTS").fetchall()])  # root has it
    finally:
        conn.query("DROP USER IF EXISTS 'dataprocessor'@'localhost'")


def _terminate_every_other_backend(conn):
    if BACKEND.name in ("postgresql", "embedded"):
        conn.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'")
    else:
        own = conn.query("SELECT CONNECTION_ID()").fetchone()[0]
        for (thread,) in conn.query("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND <> 'Daemon' "
                                    "AND USER <> 'system user'").fetchall():
            if thread != own:
                try:
                    conn.query(f"KILL {int(thread)}")
                except Exception:  # it ended meanwhile
                    pass


def test_workers_keep_their_jobs_when_every_server_backend_is_terminated(clean, python, worker_env):
    from schemas.training import TrainedModel, TrainingCheckpoint

    seeds = [1, 2]
    # long and short jobs: a worker that finishes its short ones while the other is still
    # inside a long one looks at that one's reservation, the moment a stale id would be
    # taken for a dead worker and the job made again
    register(seeds=seeds, data=MEDIUM_DATA, epochs=14, hidden=(64,))
    register(seeds=seeds, data=MEDIUM_DATA, epochs=1, hidden=(64,))
    jobs = len(TrainedModel.key_source)
    assert jobs == 4
    workers = [start_worker(python, worker_env, "--orphan-timeout", "3600") for _ in range(2)]
    wait_for(lambda: len(TrainingCheckpoint()) >= 2, timeout=300, what="both workers inside a job")
    _terminate_every_other_backend(TrainedModel.connection)
    summaries = [finish(w, timeout=900) for w in workers]
    made = sum(s["done"].get("TrainedModel", 0) for s in summaries)
    assert len(TrainedModel()) == jobs
    assert made == jobs, summaries  # no job was taken for lost and made twice
