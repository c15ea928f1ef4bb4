"""The run report: a page whose images exist and whose numbers are the run's."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from galvasr import runlog
from galvasr.report import stage as report
from tests import fake_run

RELEASE = "reporttest"


@pytest.fixture(scope="module")
def page(spark, tmp_path_factory) -> tuple[fake_run.FakeRun, Path]:
    run = fake_run.fake_run(spark, tmp_path_factory)
    fake_run.write_stub_release(run, RELEASE, run.segments[:3])
    out = tmp_path_factory.mktemp("report")
    index = report.write_report(spark, run.root, str(out), release_name=RELEASE)
    return run, Path(index)


def _cells(text: str) -> list[list[str]]:
    rows = re.findall(r"<tr>(.*?)</tr>", text)
    return [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in rows]


def test_page_and_images_exist(page):
    _, index = page
    text = index.read_text()
    images = re.findall(r'<img src="([^"]+)"', text)
    assert len(images) == 7
    for name in images:
        data = (index.parent / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5_000


def test_page_carries_the_run_figures(page):
    run, index = page
    rows = _cells(index.read_text())
    seg_ms = sum(s.duration_ms for s in run.segments)
    files_with_segments = len({s.audio_id for s in run.segments})
    assert ["segments", str(files_with_segments), f"{seg_ms / 3.6e6:,.3f}"] in rows
    released = run.segments[:3]
    assert ["released", "1", f"{sum(s.duration_ms for s in released) / 3.6e6:,.3f}"] in rows
    assert ["catalog", str(len(run.catalog)), "–"] in rows
    for (stage, reason), n in Counter((r.stage, r.reason) for r in run.rejects).items():
        assert [stage, reason, str(n)] in rows
    for seconds, n in Counter(s.duration_ms // 1000 for s in run.segments).items():
        assert [str(seconds), str(n)] in rows
    stage_rows = [r for r in rows if len(r) == 4 and r[0] in runlog_stages(run)]
    assert [(r[0], r[2]) for r in stage_rows] == [
        (s, f"{sec:,.3f}") for s, sec in runlog_stages(run).items()
    ]


def runlog_stages(run) -> dict[str, float]:
    """Stage -> seconds, in pipeline order, as the run log has them."""
    records = {r.stage: r.seconds for r in runlog.read_stages(run.root)}
    order = ["ingest", "decode", "infer", "align", "release", "report"]
    return {s: records[s] for s in order if s in records}


def test_text_from_tables_is_escaped():
    fig = report.Figures(root="<root>", release="<b>r</b>")
    fig.rejects = [("ingest", "<script>alert(1)</script>", 1)]
    text = report.render_html(fig)
    assert "<script>" not in text and "&lt;script&gt;" in text and "<b>r</b>" not in text
    assert len(report.plots(fig)) == 7  # empty figures still plot
