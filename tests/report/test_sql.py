"""Every query in sql/ on the fake run, against the same figure computed from its rows.

Each query runs in DuckDB (what ``galvasr sql`` uses on a local run root) and
in Spark (a gs:// run root), and the two must give the same rows.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from galvasr import schemas
from galvasr.report import sqlviews
from galvasr.tables import write_table
from tests import fake_run
from tests.fake_run import FakeRun
from tests.report.sqlcompare import assert_same_rows

RELEASE = "sqltest"


_DUCK: dict[str, sqlviews.Views] = {}


@pytest.fixture(scope="module")
def run(spark, tmp_path_factory) -> FakeRun:
    run = fake_run.fake_run(spark, tmp_path_factory)
    fake_run.write_stub_release(run, RELEASE, run.segments[:2])
    sqlviews.register_views(spark, run.root, RELEASE)
    _DUCK[run.root] = sqlviews.open_views(run.root, RELEASE, engine="duckdb")
    yield run
    _DUCK.pop(run.root).close()


def query(spark, run: FakeRun, name: str) -> list[dict]:
    """The rows of sql/<name>.sql in DuckDB, checked against Spark's (views of ``run``)."""
    text = sqlviews.read_query(file=Path(f"sql/{name}.sql"))
    duck = _DUCK[run.root].query(text).dicts()
    assert_same_rows(duck, [r.asDict() for r in spark.sql(text).collect()])
    return duck


def hours(ms: float) -> float:
    return round(ms / 3_600_000, 4)


def test_every_query_file_has_a_test():
    names = {p.stem for p in sqlviews.SQL_DIR.glob("*.sql")}
    tested = {n.removeprefix("test_") for n in globals() if n.startswith("test_")}
    assert names <= tested


def test_views_cover_every_table(spark, run):
    assert sqlviews.register_views(spark, run.root, RELEASE) == RELEASE
    for view in sqlviews.VIEWS:
        spark.table(view).limit(1).collect()
    assert spark.table("logits").select("model_version").distinct().collect()[0][0] == "fake-v1"
    assert spark.table("release").count() == 2
    assert "audio" not in spark.table("release").columns


def test_duckdb_views_have_the_declared_columns_and_rows(spark, run):
    duck = _DUCK[run.root]
    assert duck.release == RELEASE
    for view in sqlviews.VIEWS:
        table = schemas.RELEASE if view == "release" else schemas.TABLES[view]
        got = duck.query(f"SELECT * FROM {view}")
        assert got.columns == table.columns
        want = spark.table(view).count()
        assert len(got.rows) == want, view
        types = {r[0]: r[1].replace('"', "") for r in duck.query(f"DESCRIBE {view}").rows}
        want = {f.name: sqlviews.duck_type(f.type).replace('"', "") for f in table.arrow}
        assert types == want, view
    # partition columns come from the paths
    stages = {r[0] for r in duck.query("SELECT DISTINCT stage FROM rejects").rows}
    assert {"ingest", "decode"} <= stages
    assert {r[0] for r in duck.query("SELECT DISTINCT bucket FROM chunks").rows} == {0, 1}
    assert duck.query("SELECT DISTINCT model_version FROM logits").rows == (("fake-v1",),)
    words = duck.query("SELECT words FROM segments WHERE len(words) > 0 LIMIT 1").rows[0][0]
    assert set(words[0]) == {"word", "text", "start_ms", "end_ms", "score"}


def test_duckdb_skips_files_spark_skips(run, tmp_path):
    import shutil

    root = tmp_path / "root"
    shutil.copytree(run.root, root)
    catalog = next((root / "catalog").glob("*.parquet"))
    for hidden in ("_temporary/0/part-x.parquet", ".hidden.parquet"):
        (root / "catalog" / hidden).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(catalog, root / "catalog" / hidden)
    views = sqlviews.open_views(str(root), RELEASE, engine="duckdb")
    try:
        assert views.query("SELECT count(*) FROM catalog").rows == ((len(run.catalog),),)
    finally:
        views.close()


def test_duckdb_views_of_an_empty_root(tmp_path):
    views = sqlviews.open_views(str(tmp_path), engine="duckdb")
    try:
        assert views.release is None
        for name in sorted(sqlviews.query_names()):
            views.query(sqlviews.read_query(file=Path(name)))  # every query runs, on nothing
        assert views.query("SELECT count(*) FROM segments").rows == ((0,),)
    finally:
        views.close()


def test_engine_choice():
    assert sqlviews.engine_for("runs/x") == "duckdb"
    assert sqlviews.engine_for("gs://b/run") == "spark"
    assert sqlviews.engine_for("runs/x", "spark") == "spark"
    with pytest.raises(ValueError, match="local run roots"):
        sqlviews.engine_for("gs://b/run", "duckdb")
    with pytest.raises(ValueError, match="engine"):
        sqlviews.engine_for("runs/x", "sqlite")


def test_hours_per_license(spark, run):
    got = {r["license"]: r for r in query(spark, run, "hours_per_license")}
    released = {s.segment_id for s in run.segments[:2]}
    for lic in {s.license for s in run.segments}:
        segs = [s for s in run.segments if s.license == lic]
        assert got[lic]["segments"] == len(segs)
        assert float(got[lic]["hours"]) == hours(sum(s.duration_ms for s in segs))
        rel = [s for s in segs if s.segment_id in released]
        assert got[lic]["released_segments"] == len(rel)
        assert float(got[lic]["released_hours"]) == hours(sum(s.duration_ms for s in rel))


def test_rejects_by_stage_reason(spark, run):
    got = {
        (r["stage"], r["reason"]): (r["rows"], r["sources"])
        for r in query(spark, run, "rejects_by_stage_reason")
    }
    want: dict[tuple[str, str], list] = defaultdict(lambda: [0, set()])
    for r in run.rejects:
        want[(r.stage, r.reason)][0] += 1
        want[(r.stage, r.reason)][1].add(r.identifier)
    # other test modules may have added a release partition of rejects
    got = {k: v for k, v in got.items() if k[0] != "release"}
    assert got == {k: (n, len(ids)) for k, (n, ids) in want.items()}


def test_bucket_occupancy(spark, run):
    got = {r["bucket"]: r for r in query(spark, run, "bucket_occupancy")}
    assert set(got) == {c.bucket for c in run.chunks}
    for bucket, r in got.items():
        chunks = [c for c in run.chunks if c.bucket == bucket]
        assert r["windows"] == len(chunks)
        assert float(r["bucket_seconds"]) == chunks[0].bucket_samples / 16000
        used = sum(
            c.context_before_samples + c.num_samples + c.context_after_samples for c in chunks
        )
        total = sum(c.bucket_samples for c in chunks)
        assert float(r["padding_fraction"]) == pytest.approx(1 - used / total, abs=1e-4)
        assert float(r["padded_hours"]) == pytest.approx((total - used) / 16000 / 3600, abs=1e-4)


def test_alignment_score_histogram(spark, run):
    got = {
        float(r["score_from"]): r["cues"] for r in query(spark, run, "alignment_score_histogram")
    }
    assert got == dict(Counter(math.floor(a.score / 0.5) * 0.5 for a in run.alignments))


def test_cer_histogram(spark, run):
    got = {float(r["cer_from"]): r["cues"] for r in query(spark, run, "cer_histogram")}
    want = Counter(min(math.floor(a.cer * 20), 20) / 20 for a in run.alignments)
    assert got == dict(want)


def test_cer_by_source(spark, run):
    rows = query(spark, run, "cer_by_source")
    by_source = defaultdict(list)
    for s in run.segments:
        by_source[s.identifier].append(s)

    def mean_cer(i: str) -> float:
        segs = by_source[i]
        return round(sum(s.cer * s.duration_ms for s in segs) / sum(s.duration_ms for s in segs), 4)

    assert [r["identifier"] for r in rows] == sorted(by_source, key=lambda i: (-mean_cer(i), i))
    for r in rows:
        segs = by_source[r["identifier"]]
        ms = sum(s.duration_ms for s in segs)
        assert float(r["cer"]) == pytest.approx(
            sum(s.cer * s.duration_ms for s in segs) / ms, abs=1e-4
        )
        assert r["max_cer"] == max(s.cer for s in segs) and r["segments"] == len(segs)


def test_top_sources_by_hours(spark, run):
    rows = query(spark, run, "top_sources_by_hours")
    ms = Counter()
    for s in run.segments:
        ms[s.identifier] += s.duration_ms
    assert [(r["identifier"], float(r["hours"])) for r in rows] == [
        (i, hours(v)) for i, v in sorted(ms.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    titles = {c.identifier: c.title for c in run.catalog}
    assert all(r["title"] == titles[r["identifier"]] for r in rows)


def test_segment_duration_histogram(spark, run):
    got = {
        r["seconds_from"]: r["segments"] for r in query(spark, run, "segment_duration_histogram")
    }
    assert got == dict(Counter(s.duration_ms // 1000 for s in run.segments))


def test_audit_catalog(spark, run):
    got = {r["status"]: r["files"] for r in query(spark, run, "audit_catalog")}
    with_segments = {s.audio_id for s in run.segments}
    rejected = {
        r.audio_id: f"{r.stage}:{r.reason}"
        for r in run.rejects
        if r.audio_id is not None and r.cue_index is None
    }
    want = Counter(
        "segments" if c.audio_id in with_segments else f"rejected {rejected[c.audio_id]}"
        for c in run.catalog
    )
    catalog_ids = {c.audio_id for c in run.catalog}
    want["not in catalog: refused at ingest"] = len(
        {
            (r.identifier, r.file_name or r.line_number)
            for r in run.rejects
            if r.stage == "ingest" and r.cue_index is None and r.audio_id not in catalog_ids
        }
    )
    assert got == dict(want)
    assert not [s for s in got if s.startswith("unaccounted")]


def test_audit_finds_unaccounted_files(spark, run, tmp_path):
    root = str(tmp_path)
    for table, rows in (
        (schemas.CATALOG, run.catalog[:3]),
        (schemas.CHUNKS, run.chunks[1:2]),
        (schemas.ALIGNMENTS, [a for a in run.alignments if a.audio_id == run.catalog[2].audio_id]),
        # a rejected cue does not account for its file
        (schemas.REJECTS, [run.rejects[0].__class__(
            stage="ingest", reason="cue:empty", detail=None, identifier="x", file_name="x.srt",
            audio_id=run.catalog[0].audio_id, cue_index=3, line_number=None)]),
    ):  # fmt: skip
        frame = spark.createDataFrame([table.to_dict(r) for r in rows], table.spark)
        write_table(frame, root, table, stage="ingest" if table is schemas.REJECTS else None)
    text = sqlviews.read_query(file=Path("audit_catalog"))  # found in sql/ by name
    try:
        rows = [r.asDict() for r in sqlviews.run_sql(spark, root, text).collect()]
    finally:
        sqlviews.register_views(spark, run.root, RELEASE)
    duck = sqlviews.open_views(root, engine="duckdb")
    try:
        assert_same_rows(duck.query(text).dicts(), rows)
    finally:
        duck.close()
    assert {r["status"]: r["files"] for r in rows} == {
        "unaccounted: last in catalog": 1,
        "unaccounted: last in chunks": 1,
        "unaccounted: last in alignments": 1,
        "not in catalog: refused at ingest": 0,
    }


def test_read_query(tmp_path):
    assert sqlviews.read_query("SELECT 1;\n") == "SELECT 1"
    with pytest.raises(ValueError):
        sqlviews.read_query(" ; ")
    names = ("funnel", "funnel.sql", "sql/funnel.sql")
    by_name = {sqlviews.read_query(file=Path(n)) for n in names}
    assert len(by_name) == 1
    with pytest.raises(ValueError, match="no query file 'nope'.*audit_catalog"):
        sqlviews.read_query(file=Path("nope"))
    with pytest.raises(ValueError, match="no query file"):
        sqlviews.read_query(file=tmp_path / "missing.sql")
    with pytest.raises(ValueError, match="no query file"):
        sqlviews.read_query(file=Path("../funnel"))  # only bare names are looked up in sql/


def test_query_errors_are_query_errors(spark, run):
    with pytest.raises(sqlviews.QueryError, match="nope"):
        _DUCK[run.root].query("SELECT nope FROM segments")
    views = sqlviews.open_views(run.root, RELEASE, engine="spark", spark=spark)
    with pytest.raises(sqlviews.QueryError):
        views.query("SELECT nope FROM segments")
    with pytest.raises(sqlviews.QueryError):
        views.query("SELEC 1")


def test_funnel(spark, run):
    got = {r["step"]: (r["files"], r["hours"]) for r in query(spark, run, "funnel")}
    released = run.segments[:2]  # the stand-in release
    assert got == {
        "catalog": (len(run.catalog), None),
        "decoded": (len(run.audio), sum(a.duration_ms for a in run.audio) / 3.6e6),
        "aligned cues": (
            len({a.audio_id for a in run.alignments}),
            sum(a.end_ms - a.start_ms for a in run.alignments) / 3.6e6,
        ),
        "segments": (
            len({s.audio_id for s in run.segments}),
            sum(s.duration_ms for s in run.segments) / 3.6e6,
        ),
        "released": (
            len({s.audio_id for s in released}),
            sum(s.duration_ms for s in released) / 3.6e6,
        ),
    }
