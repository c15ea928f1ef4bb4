"""The local JVM's class data sharing archive (galvasr.jvm_cds): built, installed whole, mapped.

Real JVMs throughout: one quick build (the JVM and py4j alone: a small
archive) shared by the module, and fresh processes that start Spark through
``get_spark``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from galvasr import jvm_cds

REPO = Path(__file__).resolve().parents[1]
# Starts Spark through get_spark in a fresh process; prints what the JVM mapped.
START = """
import json, sys
from galvasr.spark import get_spark
spark = get_spark("galvasr-cds-test", master="local[1]")
pid = spark._jvm.java.lang.ProcessHandle.current().pid()
maps = open(f"/proc/{pid}/maps").read()
print(json.dumps({
    "count": spark.range(5).count(),
    "options": spark.conf.get("spark.driver.extraJavaOptions"),
    "mapped": sys.argv[1] in maps,
}))
spark.stop()
"""


def _start_spark(archive: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", START, str(archive)],
        cwd=REPO,
        env={**os.environ, jvm_cds.ENV: str(archive)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(proc: subprocess.Popen[str]) -> dict[str, object]:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cds") / "spark-jvm-test.jsa"
    assert jvm_cds.build(path, quick=True) == path
    return path


@pytest.fixture(scope="module")
def starts(archive: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    """Spark started with the archive, and with a corrupt one (whole, its record
    agreeing, but not an archive): both at once, to keep the module quick."""
    corrupt = tmp_path_factory.mktemp("corrupt") / "corrupt.jsa"
    corrupt.write_bytes(os.urandom(64 * 1024))
    jvm_cds.record_path(corrupt).write_text(json.dumps({"size": 64 * 1024}))
    procs = {"archive": _start_spark(archive), "corrupt": _start_spark(corrupt)}
    results = {name: _result(proc) for name, proc in procs.items()}
    results["corrupt"]["path"] = str(corrupt)
    return results


def test_the_build_installs_the_archive_and_its_record_whole(archive: Path) -> None:
    # Only the archive and its record: the temporary files were renamed.
    assert sorted(p.name for p in archive.parent.iterdir()) == [
        archive.name,
        archive.name + ".json",
    ]
    record = json.loads(jvm_cds.record_path(archive).read_text())
    assert record["size"] == archive.stat().st_size > 100_000
    assert record["key"] == jvm_cds.key()
    assert jvm_cds.usable(archive)
    # A usable archive is not built again.
    mtime = archive.stat().st_mtime_ns
    assert jvm_cds.build(archive) == archive and archive.stat().st_mtime_ns == mtime


def test_get_spark_maps_the_archive(archive: Path, starts: dict[str, dict[str, object]]) -> None:
    started = starts["archive"]
    assert started["count"] == 5
    assert f"-XX:SharedArchiveFile={archive}" in str(started["options"])
    assert started["mapped"] is True


def test_a_half_archive_is_never_passed(archive: Path, tmp_path: Path) -> None:
    """A truncated archive crashes Java 17 (SIGBUS): its size tells it apart."""
    half = tmp_path / "half.jsa"
    with archive.open("rb") as f:
        half.write_bytes(f.read(archive.stat().st_size // 2))
    jvm_cds.record_path(half).write_bytes(jvm_cds.record_path(archive).read_bytes())
    java = Path(jvm_cds._java_home() or "/usr") / "bin" / "java"
    crashed = subprocess.run(
        [str(java), f"-XX:SharedArchiveFile={half}", "-version"],
        cwd=tmp_path,  # its hs_err file lands here
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert crashed.returncode != 0  # why get_spark checks the size
    assert not jvm_cds.usable(half)
    os.environ[jvm_cds.ENV] = str(half)
    try:
        assert jvm_cds.java_options(["-XX:TieredStopAtLevel=1"]) == []
    finally:
        del os.environ[jvm_cds.ENV]


def test_a_corrupt_archive_does_not_stop_spark(starts: dict[str, dict[str, object]]) -> None:
    """-Xshare:auto (Java's default) starts without an archive it cannot read."""
    started = starts["corrupt"]
    assert f"-XX:SharedArchiveFile={started['path']}" in str(started["options"])
    assert started["count"] == 5 and started["mapped"] is False


def test_options_and_switches(archive: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(jvm_cds.ENV, str(archive))
    assert jvm_cds.java_options([]) == [f"-XX:SharedArchiveFile={archive}"]
    # The user's own archive or sharing mode wins.
    assert jvm_cds.java_options(["-Xshare:off"]) == []
    assert jvm_cds.java_options(["-XX:SharedArchiveFile=/elsewhere.jsa"]) == []
    # Empty: off, and nothing to build.
    monkeypatch.setenv(jvm_cds.ENV, "")
    assert jvm_cds.archive_path() is None and jvm_cds.java_options([]) == []
    with pytest.raises(RuntimeError):
        jvm_cds.build()
    # Unset: in the installation, named by the Java and Spark key.
    monkeypatch.delenv(jvm_cds.ENV)
    path = jvm_cds.archive_path()
    assert path is not None and path.parent == Path(sys.prefix) / "share" / "galvasr"
    assert path.name == f"spark-jvm-{jvm_cds.key()}.jsa"


def test_a_failed_build_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A value the JVM refuses (spark-submit ignores unknown options, not bad
    # values): the workload fails before any class is dumped.
    monkeypatch.setenv("GALVASR_JVM_OPTIONS", "-XX:TieredStopAtLevel=x")
    with pytest.raises(RuntimeError, match="workload failed"):
        jvm_cds.build(tmp_path / "spark-jvm-x.jsa", quick=True)
    assert list(tmp_path.iterdir()) == []
