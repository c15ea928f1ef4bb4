"""Rows of one query from DuckDB and from Spark, compared cell by cell."""

from __future__ import annotations

import math
from decimal import Decimal


def same_value(a, b) -> bool:
    """One cell from both engines: numbers by value (Spark's decimals are DuckDB's doubles;
    ``round(x, 4)`` may differ in the last digit, Spark rounding decimals, DuckDB doubles)."""
    numbers = (int, float, Decimal)
    if isinstance(a, numbers) and isinstance(b, numbers):
        x, y = float(a), float(b)
        rounded = round(x, 4) == x and round(y, 4) == y
        return math.isclose(x, y, rel_tol=1e-9) or (rounded and abs(x - y) <= 1.0001e-4)
    return a == b


def assert_same_rows(duck: list[dict], spark: list[dict]) -> None:
    assert [list(r) for r in duck] == [list(r) for r in spark]  # columns, in order
    assert len(duck) == len(spark)
    for d, s in zip(duck, spark, strict=True):
        assert all(same_value(d[k], s[k]) for k in d), (d, s)
