"""Release: a segment whose rules raise what none foresaw (a FLAC that does not
decode) is rejected alone, and the release goes on (issue 18)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from galvasr.config import ReleaseConfig
from galvasr.release import stage as release
from galvasr.schemas import SEGMENTS
from galvasr.tables import read_table
from tests import fake_run

CFG = ReleaseConfig(clean_max_cer=0.1, dirty_max_cer=0.5, min_score=-5.0)


def test_judge_is_the_verdict_and_the_pcm_hash():
    flac = fake_run.flac_bytes(np.arange(1600, dtype=np.int16))
    assert release.judge("cc-by", -1.0, 0.05, flac, CFG) == (
        *release.verdict("cc-by", -1.0, 0.05, CFG), release.pcm_sha256(flac)
    )  # fmt: skip
    assert release.judge("cc-by", -1.0, 0.05, None, CFG) == (None, None, "clean", None)
    assert release.judge("cc-by-nc", -1.0, 0.05, None, CFG)[0] == "license-not-releasable"


def test_a_flac_that_does_not_decode_rejects_its_segment_alone():
    reason, detail, subset, sha = release.judge("cc-by", -1.0, 0.05, b"not a flac", CFG)
    assert reason is not None and reason.startswith("internal:")
    assert detail and "Traceback" not in detail
    assert (subset, sha) == (None, None)
    reason, _, _, _ = release.judge("cc-by", None, 0.05, None, CFG)  # type: ignore[arg-type]
    assert reason == "internal:TypeError"


def test_in_spark_the_other_segments_are_judged_as_before(spark, tmp_path: Path):
    from pyspark.sql import functions as F

    run = fake_run.build(spark, tmp_path / "run")
    segments = read_table(spark, run.root, SEGMENTS)
    before = {r.segment_id: r.asDict() for r in release._decisions(segments, CFG).collect()}
    victim = sorted(s.segment_id for s in run.segments)[0]
    c = SEGMENTS.c
    broken = segments.withColumn(
        c.flac,
        F.when(F.col(c.segment_id) == victim, F.lit(b"junk")).otherwise(F.col(c.flac)),
    )
    after = {r.segment_id: r.asDict() for r in release._decisions(broken, CFG).collect()}
    assert after[victim]["reason"].startswith("internal:")
    assert after[victim]["pcm_sha256"] is None
    changed = {k for k in before if k != victim and before[k] != after[k]}
    # Only the victim changed, and whatever was a duplicate of it alone.
    assert all(before[k]["reason"] == "duplicate-audio" for k in changed), changed
