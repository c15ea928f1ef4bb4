"""``galvasr report``: one HTML page with plots of what a run did.

The figures come from the run root's tables through the same views and
``sql/`` queries that ``galvasr sql`` runs (DuckDB for a local run root,
Spark for a gs:// one), plus the run log
(:mod:`galvasr.runlog`); the page is written to ``<root>/report/index.html``
with one PNG per plot beside it. Every number shown is also in a table under
its plot. Text from the tables (reasons, identifiers, release names) is
HTML-escaped. The funnel and the rejects of align and release link to the
explorer (:mod:`galvasr.report.explorer`, ``<report>/explorer/index.html``):
samples of each subset and of each reason to listen to.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from galvasr import __version__, runlog, runroot
from galvasr.config import AlignConfig
from galvasr.context import StageContext, Summary
from galvasr.report import explorer, sqlviews
from galvasr.report.plot import png
from galvasr.storage import open_store

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

MS_PER_HOUR = 3_600_000


@dataclass(frozen=True)
class Step:
    """One step of the funnel: files (or sources) and hours that reached it."""

    name: str
    items: int
    hours: float
    unit: str = "files"


@dataclass
class Figures:
    root: str
    release: str | None
    funnel: list[Step] = field(default_factory=list)
    rejects: list[tuple[str, str, int]] = field(default_factory=list)  # stage, reason, rows
    durations: list[tuple[float, int]] = field(default_factory=list)  # seconds_from, segments
    scores: list[tuple[float, int]] = field(default_factory=list)  # score_from, cues
    cers: list[tuple[float, int]] = field(default_factory=list)  # cer_from, cues
    buckets: list[tuple[int, float, int, float]] = field(default_factory=list)
    """bucket, bucket_seconds, windows, padding_fraction"""
    stages: list[runlog.StageRecord] = field(default_factory=list)
    explored: set[tuple[str, str]] = field(default_factory=set)
    """(stage, reason) of the rejects the explorer shows; empty: no explorer"""
    explored_subsets: list[str] = field(default_factory=list)


def _query(views: sqlviews.Views, name: str) -> list[dict[str, Any]]:
    return views.query(sqlviews.read_query(file=sqlviews.SQL_DIR / f"{name}.sql")).dicts()


def collect_figures(
    spark: SparkSession | None,
    root: str,
    release_name: str | None = None,
    engine: str = "auto",
) -> Figures:
    """Every figure of the report, from the tables under ``root``.

    The queries run in DuckDB for a local run root, in ``spark`` for a gs://
    one (``engine``: see :func:`galvasr.report.sqlviews.open_views`).
    """
    views = sqlviews.open_views(root, release_name, engine=engine, spark=spark)
    try:
        return _figures(views, root)
    finally:
        views.close()


def _figures(views: sqlviews.Views, root: str) -> Figures:
    fig = Figures(root=root, release=views.release)
    fig.funnel = [
        Step(r["step"], r["files"], float("nan") if r["hours"] is None else float(r["hours"]))
        for r in _query(views, "funnel")
    ]
    fig.rejects = [
        (r["stage"], r["reason"], r["rows"]) for r in _query(views, "rejects_by_stage_reason")
    ]
    fig.durations = [
        (float(r["seconds_from"]), r["segments"])
        for r in _query(views, "segment_duration_histogram")
    ]
    fig.scores = [
        (float(r["score_from"]), r["cues"]) for r in _query(views, "alignment_score_histogram")
    ]
    fig.cers = [(float(r["cer_from"]), r["cues"]) for r in _query(views, "cer_histogram")]
    fig.buckets = [
        (r["bucket"], float(r["bucket_seconds"]), r["windows"], float(r["padding_fraction"]))
        for r in _query(views, "bucket_occupancy")
    ]
    fig.stages = runlog.read_stages(root)  # in the order they started
    return fig


# ------------------------------------------------------------------ plots


def _no_data(ax: Any) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=ax.transAxes)


def _bars(ax: Any, labels: Sequence[str], values: Sequence[float], xlabel: str) -> None:
    y = list(range(len(labels)))
    ax.barh(y, values, color="#4c72b0")
    ax.set_yticks(y, [str(x) for x in labels])
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    if not labels:
        _no_data(ax)


def _hist(
    ax: Any, bins: Sequence[tuple[float, int]], width: float, xlabel: str, ylabel: str
) -> None:
    ax.bar([b for b, _ in bins], [n for _, n in bins], width=width, align="edge", color="#4c72b0")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if not bins:
        _no_data(ax)


def plots(fig: Figures) -> dict[str, bytes]:
    """PNG bytes of every plot, by file name."""
    steps = [s for s in fig.funnel if s.hours == s.hours]  # hours known (not NaN)
    reject_labels = [f"{stage}: {reason}" for stage, reason, _ in fig.rejects]
    return {
        "funnel.png": png(
            lambda ax: _bars(ax, [s.name for s in steps], [s.hours for s in steps], "hours")
        ),
        "rejects.png": png(
            lambda ax: _bars(ax, reject_labels, [n for *_, n in fig.rejects], "rows rejected"),
            size=(7.0, 1.2 + 0.3 * max(1, len(fig.rejects))),
        ),
        "durations.png": png(
            lambda ax: _hist(ax, fig.durations, 1.0, "segment duration (s)", "segments")
        ),
        "scores.png": png(
            lambda ax: _hist(ax, fig.scores, 0.5, "alignment score (log-prob per char)", "cues")
        ),
        "cer.png": png(lambda ax: _hist(ax, fig.cers, 0.05, "character error rate", "cues")),
        "padding.png": png(
            lambda ax: _bars(
                ax,
                [f"{b} ({s:g} s)" for b, s, _, _ in fig.buckets],
                [100 * p for *_, p in fig.buckets],
                "padding (% of samples)",
            )
        ),
        "stages.png": png(
            lambda ax: _bars(
                ax, [r.stage for r in fig.stages], [r.seconds for r in fig.stages], "seconds"
            )
        ),
    }


# ------------------------------------------------------------------- page


@dataclass(frozen=True)
class Link:
    """A table cell that links to ``href`` (a relative URL made by galvasr, not from data)."""

    text: str
    href: str


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: object) -> str:
    if isinstance(value, Link):
        href = html.escape(value.href, quote=True)
        return f'<td><a href="{href}">{html.escape(value.text)}</a></td>'
    number = isinstance(value, (int, float, Bin))
    text = html.escape(_fmt(value))
    return f'<td class="num">{text}</td>' if number else f"<td>{text}</td>"


class Bin(float):
    """A histogram bin's lower edge: shown as short as it can be (1, -2.5, 0.05)."""


def _fmt(value: object) -> str:
    if isinstance(value, Bin):
        return f"{float(value):g}"
    if isinstance(value, float):
        return "–" if value != value else f"{value:,.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _section(title: str, image: str, table: str, note: str = "", link: str = "") -> str:
    alt = html.escape(title, quote=True)
    para = f"<p>{html.escape(note)}</p>" if note else ""
    img = f'<img src="{image}" alt="{alt}">'
    if link:
        img = f'<a href="{html.escape(link, quote=True)}">{img}</a>'
    return f"<section><h2>{html.escape(title)}</h2>{para}{img}{table}</section>"


EXPLORER_PAGE = f"{explorer.DIR}/index.html"


def _explorer_links(fig: Figures) -> str:
    if not fig.explored_subsets and not fig.explored:
        return ""
    links = [
        f'<a href="{EXPLORER_PAGE}#{explorer.subset_anchor(s)}">{html.escape(s)}</a>'
        for s in fig.explored_subsets
    ]
    listen = f"the released subsets ({', '.join(links)}) and " if links else ""
    return (
        f'<p>Listen to samples of {listen}the <a href="{EXPLORER_PAGE}#rejects">cues and'
        " segments align and release refused</a> in the explorer.</p>"
    )


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; }
img { max-width: 100%; display: block; margin: 0.5em 0; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.meta { color: #666; }
"""


def render_html(fig: Figures) -> str:
    released = fig.funnel[-1] if fig.funnel else Step("released", 0, 0.0)
    sections = [
        _section(
            "Hours from catalog to release",
            "funnel.png",
            _table(["step", "files", "hours"], [(s.name, s.items, s.hours) for s in fig.funnel]),
            "Catalog files have no duration until decode measures them.",
            link=f"{EXPLORER_PAGE}#subsets" if fig.explored_subsets else "",
        )
        + _explorer_links(fig),
        _section(
            "Rejects by stage and reason",
            "rejects.png",
            _table(
                ["stage", "reason", "rows"],
                [
                    (
                        stage,
                        Link(reason, f"{EXPLORER_PAGE}#{explorer.reject_anchor(stage, reason)}")
                        if (stage, reason) in fig.explored
                        else reason,
                        n,
                    )
                    for stage, reason, n in fig.rejects
                ],
            ),
            link=f"{EXPLORER_PAGE}#rejects" if fig.explored else "",
        ),
        _section(
            "Segment durations",
            "durations.png",
            _table(["seconds from", "segments"], [(Bin(b), n) for b, n in fig.durations]),
        ),
        _section(
            "Alignment scores",
            "scores.png",
            _table(["score from", "cues"], [(Bin(b), n) for b, n in fig.scores]),
        ),
        _section(
            "Character error rate",
            "cer.png",
            _table(["CER from", "cues"], [(Bin(b), n) for b, n in fig.cers]),
        ),
        _section(
            "Padding per bucket",
            "padding.png",
            _table(
                ["bucket", "seconds", "windows", "padding fraction"],
                [(b, Bin(s), w, p) for b, s, w, p in fig.buckets],
            ),
        ),
        _section(
            "Time per stage",
            "stages.png",
            _table(
                ["stage", "started", "seconds", "counts"],
                [
                    (
                        r.stage,
                        r.started,
                        r.seconds,
                        ", ".join(f"{k}={v}" for k, v in r.counts.items()),
                    )
                    for r in fig.stages
                ],
            ),
            f"From the run log ({runroot.run_record('<stage>')}); a stage that wrote none is"
            " missing.",
        ),
    ]
    title = f"galvasr run report: {fig.root}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(explorer.CSP)}">'
        f"<title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f'<p class="meta">galvasr {html.escape(__version__)}; release shown: '
        f"{html.escape(fig.release or '(none)')}; released: {released.items:,} files, "
        f"{released.hours:,.3f} hours.</p>" + "".join(sections) + "</body></html>\n"
    )


def write_report(
    spark: SparkSession | None,
    root: str,
    out: str | None = None,
    release_name: str | None = None,
    engine: str = "auto",
    margin_s: float = AlignConfig.margin_s,
) -> str:
    """Write the report of ``root`` to ``out`` (default ``<root>/report``); returns the page.

    The explorer (``explorer/``, rebuilt whole) comes with it; ``margin_s`` is
    the run's ``align.margin_s``, the span around a refused cue that align
    searched. ``spark`` is needed only where the queries run in Spark (a
    gs:// root).
    """
    views = sqlviews.open_views(root, release_name, engine=engine, spark=spark)
    try:
        fig = _figures(views, root)
        found = explorer.collect(views, margin_s)
    finally:
        views.close()
    fig.explored_subsets = [subset for subset, _ in found.subsets]
    fig.explored = {(stage, reason) for stage, reason, *_ in found.rejects}
    out = out or runroot.join(root, runroot.REPORT_DIR)
    store = open_store(out)
    store.clear(f"{explorer.DIR}/")
    for name, data in {**plots(fig), **explorer.files(found)}.items():
        store.write_bytes(name, data)
    store.write_bytes("index.html", render_html(fig).encode())
    return store.url("index.html")


def run(ctx: StageContext) -> Summary:
    """The registry's entry: the run's HTML report (``--out``, default ``<root>/report``)."""
    spark = ctx.spark if sqlviews.engine_for(ctx.root) == "spark" else None
    url = write_report(
        spark,
        ctx.root,
        ctx.options.get("out"),
        release_name=ctx.options.get("release_name") or ctx.config.release.name,
        margin_s=ctx.config.align.margin_s,
    )
    ctx.state["report_url"] = url
    return {"url": url}
