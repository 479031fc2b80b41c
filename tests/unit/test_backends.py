"""The test harness itself: a backend asked for and unreachable fails the run; only a
machine without any container engine skips the MySQL 8 leg, and says so."""

import socket

import pytest

from tests import backends


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_server_that_does_not_answer_fails_instead_of_skipping():
    with pytest.raises(backends.BackendUnreachable, match=r"nothing answers at 127.0.0.1:\d+"):
        backends._require_listening("postgresql", _free_port())


def test_mysql8_is_skipped_only_without_any_container_engine(monkeypatch, tmp_path):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(backends.os.path, "exists", lambda path: False)
    reason = backends._mysql8_container()
    assert isinstance(reason, str) and "has none" in reason
    monkeypatch.undo()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-such.sock'}")  # configured, but broken
    with pytest.raises(backends.BackendUnreachable, match="configured but unusable"):
        backends._mysql8_container()
