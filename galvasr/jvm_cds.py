"""A class data sharing (CDS) archive for the JVM that galvasr starts in local mode.

Most of a short run's fixed cost was the local JVM's start: loading and
verifying some ten thousand of Spark's classes. A dynamic CDS archive holds
them already parsed and verified, and the JVM maps it at start (issue 20).
Java 17 has no ``-XX:+AutoCreateSharedArchive``, so galvasr builds it once:

    python -m galvasr.jvm_cds build     # unless usable (scripts/setup.sh runs this)
    python -m galvasr.jvm_cds path      # where; exit 0 usable, 1 missing, 2 off

The build runs a small Spark workload like a stage's (Parquet written and
read, ``mapInArrow`` through a Python worker, a join, a write) in a child
process whose JVM dumps the classes it loaded at exit
(``-XX:ArchiveClassesAtExit`` to a temporary file in the archive's folder),
then renames the file into place, so a killed build never leaves a half
archive (and a JVM that has the old one mapped keeps its file).
``galvasr.spark.get_spark`` passes ``-XX:SharedArchiveFile`` when it starts
the JVM itself and the archive is usable. Java 17's default
``-Xshare:auto`` ignores an archive it cannot use (another JVM build, another
classpath, a bad header: it starts without it), but a truncated archive
crashes the JVM (SIGBUS while mapping it). So the build first maps the new
archive in a throwaway JVM, and records its size next to it
(``<archive>.json``, written after it): an archive without that record, or
of another size, is never passed.

The archive lives in the installation (``<sys.prefix>/share/galvasr/``),
never in a run root. Its name carries a short hash of the Java installation
and Spark's jars (``spark-jvm-<key>.jsa``): upgrading either makes a new name,
which the next build fills. ``GALVASR_CDS_ARCHIVE`` overrides the path; set
but empty, there is no archive (neither used nor built).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pyspark.sql import SparkSession

ENV = "GALVASR_CDS_ARCHIVE"
PREFIX = "spark-jvm-"
SUFFIX = ".jsa"
# The JVM's own archive options: with one of these among the JVM options,
# get_spark adds none of its own (and the build drops them).
_CDS_OPTIONS = ("-XX:SharedArchiveFile", "-XX:ArchiveClassesAtExit", "-Xshare:")
_TMP_MAX_AGE_S = 3600  # a temporary file this old belongs to a dead build
BUILD_TIMEOUT_S = 900


def default_dir() -> Path:
    """``<sys.prefix>/share/galvasr``: the installation's (e.g. ``.venv/share/galvasr``)."""
    return Path(sys.prefix) / "share" / "galvasr"


def _java_home() -> Path | None:
    """The Java installation spark-submit runs: ``$JAVA_HOME``, else ``java`` on PATH."""
    home = os.environ.get("JAVA_HOME")
    java = Path(home) / "bin" / "java" if home else None
    if java is None or not java.is_file():
        found = shutil.which("java")
        if found is None:
            return None
        java = Path(found)
    return java.resolve().parent.parent


def _spark_jars() -> Path | None:
    """The folder of Spark's jars (``$SPARK_HOME/jars``, else pyspark's own)."""
    home = os.environ.get("SPARK_HOME")
    if home:
        return Path(home) / "jars"
    import importlib.util

    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "jars"


def key() -> str | None:
    """A short hash of the Java installation and Spark's classpath (None without either).

    Java: its home folder, its ``release`` file (the exact version) and
    ``libjvm.so``'s size and time. Spark: the jars folder and each jar's name,
    size and time (the JVM rejects an archive whose jars changed, with a
    warning at every start). A few milliseconds: get_spark computes it at
    every JVM start.
    """
    java_home, jars = _java_home(), _spark_jars()
    if java_home is None or jars is None or not jars.is_dir():
        return None
    digest = hashlib.sha256()
    digest.update(f"java {java_home}\n".encode())
    release = java_home / "release"
    if release.is_file():
        digest.update(release.read_bytes())
    for lib in sorted(java_home.glob("lib/*/libjvm.so")):
        st = lib.stat()
        digest.update(f"{lib} {st.st_size} {st.st_mtime_ns}\n".encode())
    digest.update(f"jars {jars.resolve()}\n".encode())
    with os.scandir(jars) as entries:
        listing = sorted(
            (e.name, e.stat().st_size, e.stat().st_mtime_ns)
            for e in entries
            if e.name.endswith(".jar")
        )
    for name, size, mtime in listing:
        digest.update(f"{name} {size} {mtime}\n".encode())
    return digest.hexdigest()[:12]


def archive_path() -> Path | None:
    """Where the archive is (or would be built); None when off or Java/Spark is missing."""
    override = os.environ.get(ENV)
    if override is not None:
        return Path(override).expanduser().absolute() if override.strip() else None
    k = key()
    return None if k is None else default_dir() / f"{PREFIX}{k}{SUFFIX}"


def record_path(path: Path) -> Path:
    """The archive's record (``<archive>.json``): its size, written after the archive."""
    return path.with_name(path.name + ".json")


def usable(path: Path) -> bool:
    """Whether ``path`` is an archive that a build installed whole (its size as recorded)."""
    try:
        record = json.loads(record_path(path).read_text())
        return bool(path.stat().st_size == record["size"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _option_safe(path: Path) -> bool:
    # spark.driver.extraJavaOptions is split on whitespace (with shell-like
    # quoting): a path that would need quoting is left out.
    return not any(c.isspace() or c in "\"'\\" for c in str(path))


def java_options(options: list[str]) -> list[str]:
    """What get_spark adds to the local JVM's ``options``: the archive, if ``usable``.

    Nothing when ``options`` already choose an archive or a sharing mode, or
    when the path would need quoting.
    """
    if any(o.startswith(_CDS_OPTIONS) for o in options):
        return []
    path = archive_path()
    if path is None or not _option_safe(path) or not usable(path):
        return []
    return [f"-XX:SharedArchiveFile={path}"]


def _clean(folder: Path, keep: Path) -> None:
    """Remove other keys' archives (default folder only) and dead builds' temporary files."""
    now = time.time()
    for p in folder.glob(f"{PREFIX}*"):
        if p in (keep, record_path(keep)):
            continue
        try:
            old_key = p.name.endswith((SUFFIX, SUFFIX + ".json")) and folder == default_dir()
            dead_tmp = ".tmp-" in p.name and now - p.stat().st_mtime > _TMP_MAX_AGE_S
            if old_key or dead_tmp:
                p.unlink()
        except OSError:
            pass


def build(
    path: Path | None = None,
    *,
    force: bool = False,
    quick: bool = False,
    timeout_s: float = BUILD_TIMEOUT_S,
) -> Path:
    """Build the archive at ``path`` (default: ``archive_path()``) unless it is ``usable``.

    Runs the workload (``quick``: the JVM and py4j alone, for tests) in a
    child process whose JVM writes a temporary file in the same folder; maps
    it in a throwaway JVM; then ``os.replace``s it, and then its record, into
    place. Raises RuntimeError when it cannot.
    """
    from galvasr.spark import LOCAL_JVM_OPTIONS

    path = path if path is not None else archive_path()
    if path is None:
        raise RuntimeError(f"no archive path: {ENV} is empty, or Java or pyspark is missing")
    if not _option_safe(path):
        raise RuntimeError(f"{path}: a path with spaces or quotes cannot be a JVM option")
    if usable(path) and not force:
        return path
    java_home = _java_home()
    if java_home is None:
        raise RuntimeError("no java: set JAVA_HOME or put java on PATH")
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean(path.parent, path)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp_record = path.with_name(f"{path.name}.json.tmp-{os.getpid()}")
    started = time.perf_counter()
    # The options the runs' JVM gets (GALVASR_JVM_OPTIONS as get_spark reads it).
    base = os.environ.get("GALVASR_JVM_OPTIONS", LOCAL_JVM_OPTIONS).split()
    base = [o for o in base if not o.startswith(_CDS_OPTIONS)]
    env = {
        **os.environ,
        "GALVASR_JVM_OPTIONS": " ".join([*base, f"-XX:ArchiveClassesAtExit={tmp}"]),
        ENV: "",  # no archive under the one being dumped
    }
    env.pop("PYSPARK_GATEWAY_PORT", None)
    try:
        with tempfile.TemporaryDirectory(prefix="galvasr-cds-") as work:
            # Its own process group: on a timeout the JVM goes with it.
            child = subprocess.Popen(
                [sys.executable, "-m", "galvasr.jvm_cds", "_workload", work]
                + (["--quick"] if quick else []),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            try:
                out, err = child.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.communicate()
                raise
        if child.returncode != 0:
            tail = (err + out)[-2000:]
            raise RuntimeError(f"the workload failed (exit {child.returncode}):\n{tail}")
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise RuntimeError(f"the JVM wrote no archive:\n{out[-2000:]}")
        # A JVM maps an archive before it checks the classpath: a bad one
        # crashes this JVM, not a user's run.
        check = subprocess.run(
            [str(java_home / "bin" / "java"), f"-XX:SharedArchiveFile={tmp}", "-version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check.returncode != 0:
            tail = (check.stdout + check.stderr)[-2000:]
            raise RuntimeError(f"a JVM could not map the new archive:\n{tail}")
        record = {
            "size": tmp.stat().st_size,
            "key": key(),
            "java_home": str(java_home),
            "jvm_options": base,
            "workload": "quick" if quick else "stage-like",
            "build_s": round(time.perf_counter() - started, 1),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        tmp_record.write_text(json.dumps(record, indent=2) + "\n")
        os.replace(tmp, path)
        os.replace(tmp_record, record_path(path))
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"the build ran over {e.timeout:.0f} s") from e
    finally:
        tmp.unlink(missing_ok=True)
        tmp_record.unlink(missing_ok=True)
    return path


def _workload(work: Path, quick: bool = False) -> int:
    """Spark as a stage uses it; the JVM exits (and dumps) before this returns its status."""
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    from galvasr.spark import get_spark, local_jvm_options

    if quick:  # the JVM and py4j's gateway alone: a small archive
        conf = SparkConf().set("spark.driver.extraJavaOptions", " ".join(local_jvm_options()))
        gateway = launch_gateway(conf)
        gateway.jvm.java.lang.System.getProperty("java.version")
    else:
        spark = get_spark("galvasr-cds")
        _stage_like(spark, work)
        spark.stop()
        gateway = SparkContext._gateway
    # The JVM exits when its stdin closes and writes the archive as it exits:
    # wait for it, or the parent could find no file (or half of one).
    proc = getattr(gateway, "proc", None)
    if gateway is not None:
        gateway.shutdown()
    if proc is None:
        return 1
    if proc.stdin is not None:
        proc.stdin.close()
    return int(proc.wait(timeout=BUILD_TIMEOUT_S))


def _stage_like(spark: SparkSession, work: Path) -> None:
    """What galvasr's stages do, small: Parquet out and in, Arrow, a join, a write."""
    import pyarrow as pa
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    rows = [(i, f"file-{i % 7}", bytes(64)) for i in range(512)]
    df = spark.createDataFrame(rows, "id long, name string, pcm binary")
    df = df.withColumn("audio_id", F.xxhash64("name")).withColumn("part", F.col("id") % 3)
    a, b = str(work / "a"), str(work / "b")
    df.write.mode("overwrite").partitionBy("part").option("compression", "zstd").parquet(a)
    back = spark.read.option("basePath", a).schema(df.schema).parquet(a)

    def double(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            ids = batch.column("id").to_pylist()
            yield pa.RecordBatch.from_pydict({"id": ids, "twice": [2 * i for i in ids]})

    mapped = (
        back.repartition(4, "audio_id")
        .sortWithinPartitions("audio_id", "id")
        .mapInArrow(double, "id long, twice long")
        .persist(StorageLevel.DISK_ONLY)
    )
    joined = back.join(mapped, "id", "full_outer").groupBy("name").agg(F.sum("twice"), F.count("*"))
    joined.write.mode("overwrite").option("compression", "zstd").parquet(b)
    spark.read.parquet(b).toPandas()
    spark.createDataFrame(joined.toPandas()).count()
    mapped.unpersist()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m galvasr.jvm_cds", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the archive unless it is usable")
    b.add_argument("--force", action="store_true", help="build it even if it is usable")
    sub.add_parser(
        "path", help="print the archive's path; exit 0 if usable, 1 if missing, 2 if off"
    )
    w = sub.add_parser("_workload")
    w.add_argument("work", type=Path)
    w.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "_workload":
        return _workload(args.work, args.quick)
    path = archive_path()
    if args.command == "path":  # exit status: 0 usable, 1 missing, 2 off
        if path is None:
            print(f"none ({ENV} is empty, or Java or pyspark is missing)")
            return 2
        ok = usable(path)
        print(f"{path} ({'usable' if ok else 'missing'})")
        return 0 if ok else 1
    started = time.perf_counter()
    existed = path is not None and usable(path) and not args.force
    try:
        built = build(path, force=args.force)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if existed:
        print(f"{built} (usable already)")
    else:
        size = built.stat().st_size / 1e6
        print(f"{built} ({size:.0f} MB, built in {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
