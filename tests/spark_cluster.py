"""A real Spark standalone cluster on 127.0.0.1: one master, two workers.

Started with the launch script that ships inside pyspark
(``sbin/spark-daemon.sh`` with the Master and Worker classes), so what is
tested is exactly what a user gets from ``pip install pyspark``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


@dataclass(frozen=True)
class Cluster:
    master_url: str
    ui_url: str
    env: dict[str, str]

    def spark_submit(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        cmd = [
            str(spark_home() / "bin" / "spark-submit"),
            "--master", self.master_url,
            "--executor-memory", "1g",
            "--conf", "spark.sql.shuffle.partitions=4",
            *args,
        ]  # fmt: skip
        return subprocess.run(
            cmd, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )


def _daemon(env: dict[str, str], action: str, cls: str, instance: int, *args: str) -> None:
    script = spark_home() / "sbin" / "spark-daemon.sh"
    subprocess.run(
        ["bash", str(script), action, cls, str(instance), *args],
        env=env, check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


MASTER = "org.apache.spark.deploy.master.Master"
WORKER = "org.apache.spark.deploy.worker.Worker"


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("spark-cluster")
    port, ui_port = _free_port(), _free_port()
    env = dict(os.environ)
    python = sys.executable
    env.update(
        SPARK_HOME=str(spark_home()),
        SPARK_PID_DIR=str(base / "pid"),
        SPARK_LOG_DIR=str(base / "log"),
        SPARK_IDENT_STRING=f"galvasr-test-{port}",
        PYSPARK_PYTHON=python,
        PYSPARK_DRIVER_PYTHON=python,
    )
    master_url = f"spark://127.0.0.1:{port}"
    ui_url = f"http://127.0.0.1:{ui_port}"
    _daemon(env, "start", MASTER, 1, "--host", "127.0.0.1", "--port", str(port),
            "--webui-port", str(ui_port))  # fmt: skip
    workers = (1, 2)
    try:
        for i in workers:
            _daemon(env, "start", WORKER, i, "--host", "127.0.0.1", "--cores", "1",
                    "--memory", "2g", "--webui-port", "0", "--work-dir", str(base / f"work{i}"),
                    master_url)  # fmt: skip
        deadline = time.monotonic() + 120
        alive = 0
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{ui_url}/json/", timeout=5) as r:
                    alive = int(json.load(r).get("aliveworkers", 0))
            except OSError:
                alive = 0
            if alive == len(workers):
                break
            time.sleep(1)
        if alive != len(workers):
            logs = "\n".join(p.read_text()[-2000:] for p in (base / "log").glob("*.out"))
            raise RuntimeError(f"Spark cluster did not come up ({alive} workers):\n{logs}")
        yield Cluster(master_url=master_url, ui_url=ui_url, env=env)
    finally:
        for i in workers:
            _daemon(env, "stop", WORKER, i)
        _daemon(env, "stop", MASTER, 1)
