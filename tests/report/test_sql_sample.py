"""Every query in sql/ on a real run of (part of) the sample corpus, with the
figures that can be computed another way checked against the tables' rows.
Queries run in DuckDB (``galvasr sql``'s engine on a local run root); each
is also run in Spark, and the two must agree."""

from __future__ import annotations

from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from galvasr import schemas
from galvasr.report import sqlviews
from galvasr.tables import read_table
from tests.report.sqlcompare import assert_same_rows

pytestmark = pytest.mark.slow

QUERIES = sorted(Path(__file__).resolve().parents[2].glob("sql/*.sql"))


def _query(spark, root: Path, path: Path) -> list[dict]:
    sql = sqlviews.read_query(file=path)
    views = sqlviews.open_views(str(root), "sample", engine="duckdb")
    try:
        rows = views.query(sql).dicts()
    finally:
        views.close()
    spark_rows = [r.asDict() for r in sqlviews.run_sql(spark, str(root), sql, "sample").collect()]
    assert_same_rows(rows, spark_rows)
    return rows


@pytest.mark.parametrize("path", QUERIES, ids=[p.stem for p in QUERIES])
def test_every_query_runs_on_a_real_run(spark, mini_run: Path, path: Path):
    rows = _query(spark, mini_run, path)
    assert rows, f"{path.name} returned nothing on a complete run"


def test_hours_per_license_equal_the_segments_rows(spark, mini_run: Path):
    segments = read_table(spark, str(mini_run), schemas.SEGMENTS).collect()
    expected: Counter[str] = Counter()
    for s in segments:
        expected[s["license"]] += s["duration_ms"]
    rows = _query(spark, mini_run, Path("sql/hours_per_license.sql"))
    got = {r["license"]: r["hours"] for r in rows}
    assert set(got) == set(expected)
    for license, ms in expected.items():  # DuckDB rounds the double; Spark, a decimal
        assert abs(got[license] - float(_spark_hours(ms))) <= 1.0001e-4


def _spark_hours(duration_ms: int) -> Decimal:
    """``round(sum(ms) / 3600000.0, 4)`` as Spark computes it: ``3600000.0`` is a decimal
    literal, so the quotient is a decimal of scale 9 and both steps round half up (Python's
    float ``round`` rounds half to even and missed 0.04085 -> 0.0409)."""
    quotient = (Decimal(duration_ms) / Decimal(3_600_000)).quantize(Decimal("1e-9"), ROUND_HALF_UP)
    return quotient.quantize(Decimal("1e-4"), ROUND_HALF_UP)


def test_rejects_by_stage_and_reason_equal_the_rejects_rows(spark, mini_run: Path):
    rejects = read_table(spark, str(mini_run), schemas.REJECTS).collect()
    expected = Counter((r["stage"], r["reason"]) for r in rejects)
    rows = _query(spark, mini_run, Path("sql/rejects_by_stage_reason.sql"))
    assert {(r["stage"], r["reason"]): r["rows"] for r in rows} == dict(expected)


def test_audit_leaves_no_catalog_file_unaccounted(spark, mini_run: Path):
    rows = _query(spark, mini_run, Path("sql/audit_catalog.sql"))
    assert not [r for r in rows if str(r["status"]).startswith("unaccounted")]
    catalog = read_table(spark, str(mini_run), schemas.CATALOG).count()
    in_catalog = sum(r["files"] for r in rows if not str(r["status"]).startswith("not in catalog"))
    assert in_catalog == catalog
