"""Fixtures shared by the whole test session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

pytest_plugins = ["tests.gcs_emulator", "tests.spark_cluster", "tests.run_fixtures"]


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """One local[2] SparkSession for the whole test run."""
    os.environ.setdefault("GALVASR_SHUFFLE_PARTITIONS", "4")
    from galvasr.spark import get_spark

    session = get_spark("galvasr-tests", master="local[2]")
    session.sparkContext.setLogLevel("WARN")
    yield session
    session.stop()
