"""Stage 1, ingest: a corpus's catalog and item files to `catalog`, `transcripts`, `rejects`.

Row shapes (declared in galvasr.schemas)::

    catalog      (audio_id, identifier, audio_file, audio_path, subtitle_file,
                  audio_size_bytes, title, creator, license, license_url, language,
                  date, source_url)
    transcripts  (audio_id, cue_index, start_ms, end_ms, text_raw, text)
    rejects      (stage="ingest", reason, detail, identifier, file_name, audio_id,
                  cue_index, line_number)

``audio_path`` is where the file was found, relative to the corpus root
(``<items_dir>/<identifier>/<audio_file>``), so that later stages need
neither the corpus layout nor this package. Files are reached only through
galvasr.corpus_files (no path out of the corpus, no link out of it, regular
files only).

Accounting: every audio and subtitle file a catalog line names ends in
exactly one place. An audio file is a ``catalog`` row or a reject row; a
subtitle file is the ``subtitle_file`` of one or more catalog rows or a
reject row. A refusal that concerns a whole item (license, unsafe
identifier, duplicate identifier) gives a reject row to each of its audio and
subtitle files; an audio file and its subtitle file refused together (the
audio is missing, the subtitle is empty or unparsable) each get a row with
the same reason. Rows about files have ``cue_index`` null; rows about a
malformed catalog line have ``file_name`` null and a ``line_number``; so has
the one row of an item that lists no audio or subtitle file
(``catalog:no-media``), so that every catalog line that is not blank ends in
``catalog`` or ``rejects``. A cue
dropped from a kept file (``cue:*``) gets a row with its ``audio_id`` and
``cue_index``, so transcripts may skip cue numbers. Other files (images,
XML) are ignored and only counted. Audio bytes are not read here: an empty
or undecodable file is decode's to refuse.

The per-item logic (:func:`ingest_item`) is plain Python over the files of
one item; :func:`run_ingest` only wires it into Spark. Whatever no rule
foresaw (an exception of the parser, of a cue's cleaning, of the item's own
logic) refuses only what raised it: the cue, the subtitle file or the item,
as ``internal:<ExceptionType>`` (:func:`galvasr.schemas.unforeseen`), and
the run goes on.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import operator
import os
from collections.abc import Iterable, Iterator
from dataclasses import astuple, dataclass, field
from typing import TYPE_CHECKING, Any

from galvasr import keys, storage
from galvasr.config import IngestConfig
from galvasr.context import StageContext, Summary
from galvasr.corpus_files import CorpusFiles, UnsafePath, open_corpus
from galvasr.ingest.catalog import (
    Item,
    LineReject,
    item_path,
    kind_of,
    pair_files,
    parse_catalog_line,
    printable,
)
from galvasr.ingest.subtitles import Subtitle, Unusable, parse_subtitle
from galvasr.licenses import License, normalize_license
from galvasr.schemas import (
    CATALOG,
    REJECTS,
    TRANSCRIPTS,
    CatalogRow,
    RejectRow,
    TranscriptRow,
    reject_row,
    unforeseen,
)
from galvasr.tables import write_table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

STAGE = "ingest"
NO_MEDIA = "catalog:no-media"  # an item that lists no audio or subtitle file


# --------------------------------------------------------------- per item


@dataclass
class ItemOutput:
    catalog: list[CatalogRow] = field(default_factory=list)
    transcripts: list[TranscriptRow] = field(default_factory=list)
    rejects: list[RejectRow] = field(default_factory=list)
    ignored_files: int = 0


def reject(
    reason: str,
    detail: str,
    *,
    identifier: str | None = None,
    file_name: str | None = None,
    audio_id: int | None = None,
    cue_index: int | None = None,
    line_number: int | None = None,
) -> RejectRow:
    """A reject row of this stage; text from the catalog is made printable."""
    return reject_row(
        STAGE,
        reason,
        printable(detail),
        identifier=None if identifier is None else printable(identifier),
        file_name=None if file_name is None else printable(file_name),
        audio_id=audio_id,
        cue_index=cue_index,
        line_number=line_number,
    )


def reject_files(
    identifier: str | None,
    names: Iterable[str],
    reason: str,
    detail: str,
    line_number: int,
    *,
    with_ids: bool = True,
) -> list[RejectRow]:
    """One row per audio or subtitle file of a refused item; one row if it names none."""
    rows = [
        reject(
            reason,
            detail,
            identifier=identifier,
            file_name=name,
            line_number=line_number,
            audio_id=keys.audio_id(identifier, name)
            if with_ids and identifier is not None and kind_of(name) == "audio"
            else None,
        )
        for name in names
    ]
    return rows or [reject(reason, detail, identifier=identifier, line_number=line_number)]


def reject_line(r: LineReject) -> list[RejectRow]:
    return reject_files(r.identifier, r.file_names, r.reason, r.detail, r.line_number,
                        with_ids=False)  # fmt: skip


def _media_names(item: Item) -> list[str]:
    return [f.name for f in item.files if kind_of(f.name) is not None]


def ingest_item(item: Item, files: CorpusFiles, config: IngestConfig) -> ItemOutput:
    """Catalog rows, transcripts and rejects of one item (rules in the module docstring)."""
    out = ItemOutput(ignored_files=sum(kind_of(f.name) is None for f in item.files))
    ident, line = item.identifier, item.line_number
    verdict = normalize_license(item.license_url)
    if not isinstance(verdict, License):
        out.rejects = reject_files(ident, _media_names(item), verdict.reason, verdict.detail, line)
        return out
    for detail in item.bad_entries:
        out.rejects.append(
            reject("catalog:malformed-file", detail, identifier=ident, line_number=line)
        )
    if not _media_names(item):
        # Nothing to pair, yet the line must end somewhere: one row for the item.
        out.rejects.append(
            reject(NO_MEDIA, _no_media_detail(item), identifier=ident, line_number=line)
        )
        return out
    pairing = pair_files(item.files)
    for r in pairing.rejects:
        out.rejects.append(
            reject(
                r.reason,
                r.detail,
                identifier=ident,
                file_name=r.name,
                line_number=line,
                audio_id=keys.audio_id(ident, r.name) if r.is_audio else None,
            )
        )

    parsed: dict[str, Subtitle | Unusable] = {}
    subtitle_failures: dict[str, Unusable] = {}
    kept_subtitles: set[str] = set()
    for pair in pairing.pairs:
        audio_file, subtitle_file = pair.audio.name, pair.subtitle.name
        audio_id = keys.audio_id(ident, audio_file)
        path = item_path(config.items_dir, ident, audio_file)
        result: Subtitle | Unusable | None
        audio_size, result = _audio_size(files, path)
        if result is None:
            if subtitle_file not in parsed:
                parsed[subtitle_file] = _read_subtitle(files, config, ident, subtitle_file)
            result = parsed[subtitle_file]
        if isinstance(result, Unusable):
            out.rejects.append(
                reject(
                    result.reason,
                    result.detail,
                    identifier=ident,
                    file_name=audio_file,
                    audio_id=audio_id,
                    line_number=line,
                )
            )
            subtitle_failures.setdefault(subtitle_file, result)
            continue
        kept_subtitles.add(subtitle_file)
        out.catalog.append(
            CatalogRow(
                audio_id=audio_id,
                identifier=ident,
                audio_file=audio_file,
                audio_path=path,
                subtitle_file=subtitle_file,
                audio_size_bytes=audio_size,
                title=item.title,
                creator=item.creator,
                license=verdict.name,
                license_url=printable(str(item.license_url)).strip(),
                language=item.language,
                date=item.date,
                source_url=config.source_url_template.format(identifier=ident),
            )
        )
        out.transcripts.extend(
            TranscriptRow(audio_id, c.index, c.start_ms, c.end_ms, c.text_raw, c.text)
            for c in result.cues
        )
        out.rejects.extend(
            reject(
                d.reason,
                d.detail,
                identifier=ident,
                file_name=subtitle_file,
                audio_id=audio_id,
                cue_index=d.index,
            )
            for d in result.dropped
        )
    for subtitle_file, failure in sorted(subtitle_failures.items()):
        if subtitle_file not in kept_subtitles:
            out.rejects.append(
                reject(
                    failure.reason,
                    failure.detail,
                    identifier=ident,
                    file_name=subtitle_file,
                    line_number=line,
                )
            )
    return out


def _no_media_detail(item: Item) -> str:
    names = [f.name for f in item.files]
    if not names:
        return "the item lists no file" + (
            f" ({len(item.bad_entries)} entries without a name)" if item.bad_entries else ""
        )
    shown = ", ".join(repr(n[:100]) for n in names[:5]) + (", ..." if len(names) > 5 else "")
    return f"no audio or subtitle file among the {len(names)} it lists: {shown}"


def _audio_size(files: CorpusFiles, path: str) -> tuple[int | None, Unusable | None]:
    try:
        size = files.size(path)
    except UnsafePath as e:
        return None, Unusable("catalog:unsafe-path", str(e))
    except OSError as e:
        return None, Unusable("audio:unreadable", f"{type(e).__name__}: {e}")
    if size is None:
        return None, Unusable("audio:missing", f"no file {path}")
    return size, None


def _read_subtitle(
    files: CorpusFiles, config: IngestConfig, identifier: str, name: str
) -> Subtitle | Unusable:
    path = item_path(config.items_dir, identifier, name)
    try:
        size = files.size(path)
        if size is None:
            return Unusable("subtitle:missing", f"no file {path}")
        if size > config.max_subtitle_bytes:
            return Unusable(
                "subtitle:too-large", f"{size} bytes, more than {config.max_subtitle_bytes}"
            )
        data = files.read_bytes(path)
    except UnsafePath as e:
        return Unusable("catalog:unsafe-path", str(e))
    except OSError as e:
        return Unusable("subtitle:unreadable", f"{type(e).__name__}: {e}")
    try:
        return parse_subtitle(data, name)
    except Exception as e:  # no rule foresaw it: this subtitle's files are refused
        return Unusable(*unforeseen(e))


# ------------------------------------------------------------------ Spark

# Records cross from the Python workers to the JVM as (kind, value) pairs:
# a row of one of the tables (its values), an item, or a name to count.
_KINDS = {CatalogRow: "catalog", TranscriptRow: "transcript", RejectRow: "reject"}
COUNT = "count"


def _parsed_records(numbered: tuple[str, int]) -> Iterator[tuple[str, Any]]:
    """One catalog line: an ("item", (identifier, Item)), or its reject rows; and a count."""
    line, index = numbered
    try:
        parsed = parse_catalog_line(index + 1, line)
    except Exception as e:  # no rule foresaw it: the line is refused, the run goes on
        parsed = LineReject(index + 1, *unforeseen(e))
    if parsed is None:
        return
    yield COUNT, "catalog_lines"
    if isinstance(parsed, Item):
        yield "item", (parsed.identifier, parsed)
    else:
        for row in reject_line(parsed):
            yield "reject", astuple(row)


def _item_records(
    groups: Iterable[tuple[str, Iterable[Item]]], corpus: str, config: IngestConfig
) -> Iterator[tuple[str, Any]]:
    """Every item of one identifier: the first line's is ingested, later ones refused."""
    files = open_corpus(corpus)
    for _, same in groups:
        first, *later = sorted(same, key=operator.attrgetter("line_number"))
        for dup in later:
            detail = f"identifier already on line {first.line_number}"
            for dup_row in reject_files(dup.identifier, _media_names(dup),
                                        "catalog:duplicate-item", detail, dup.line_number,
                                        with_ids=False):  # fmt: skip
                yield "reject", astuple(dup_row)
        out = _ingest_item_isolated(first, files, config)
        rows: list[CatalogRow | TranscriptRow | RejectRow] = [
            *out.catalog, *out.transcripts, *out.rejects
        ]  # fmt: skip
        for row in rows:
            yield _KINDS[type(row)], astuple(row)
        for _ in range(out.ignored_files):
            yield COUNT, "ignored_files"


def _ingest_item_isolated(item: Item, files: CorpusFiles, config: IngestConfig) -> ItemOutput:
    """:func:`ingest_item`, or, if it raises what no rule foresaw, a reject row for each
    of the item's files (``internal:<ExceptionType>``): the run goes on."""
    try:
        return ingest_item(item, files, config)
    except Exception as e:
        reason, detail = unforeseen(e)
        return ItemOutput(
            rejects=reject_files(
                item.identifier, _media_names(item), reason, detail, item.line_number
            ),
            ignored_files=sum(kind_of(f.name) is None for f in item.files),
        )


def _is_kind(kind: str, record: tuple[str, Any]) -> bool:
    return record[0] == kind


def _count_key(record: tuple[str, Any]) -> tuple[str, int]:
    kind, values = record
    if kind == "reject":
        return f"rejects:{values[1]}", 1
    if kind == COUNT:
        return values, 1
    return f"{kind}_rows", 1


_ID_COLUMNS = tuple(CATALOG.columns.index(name) for name in (
    CATALOG.c.audio_id, CATALOG.c.identifier, CATALOG.c.audio_file
))  # fmt: skip


def _tally_keys(record: tuple[str, Any]) -> Iterator[tuple[str | int, Any]]:
    """What one record adds to the tally: its count (a name: 1) and, for a catalog
    row, its file under its audio_id (an int: the (identifier, audio_file) pairs)."""
    yield _count_key(record)
    if record[0] == "catalog":
        key, identifier, audio_file = (record[1][i] for i in _ID_COLUMNS)
        yield key, ((identifier, audio_file),)


def _tally_add(a: Any, b: Any) -> Any:
    """Counts add; the files of one audio_id are a sorted set."""
    if isinstance(a, int):
        return a + b
    return tuple(sorted({*a, *b}))


def _is_reported(entry: tuple[str | int, Any]) -> bool:
    """Counts, and the audio_ids of more than one file: the tally the driver needs."""
    key, value = entry
    return isinstance(key, str) or len(value) > 1


def _sorted(df: DataFrame, partitions: int, key: str, *order: str) -> DataFrame:
    """Rows spread by ``key`` and sorted within each file: the same files every run.

    Not a global sort, which would cost a sampling pass per table.
    """
    from pyspark.sql import functions as F

    return df.repartition(partitions, F.col(key)).sortWithinPartitions(*order)


@dataclass
class IngestSummary:
    """What the stage did; the job logs it as JSON."""

    catalog_lines: int  # lines that are not blank
    counts: dict[str, int]  # catalog_rows, transcript_rows, ignored_files, rejects:<reason>

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)


def find_catalog(corpus: str, config: IngestConfig) -> str:
    """The URL of the corpus's catalog file (the first of config.catalog_names that exists)."""
    store = storage.open_store(corpus)
    for name in config.catalog_names:
        if store.exists(name):
            return store.url(name)
    raise FileNotFoundError(f"no {' or '.join(config.catalog_names)} in {corpus}")


def run_ingest(spark: SparkSession, corpus: str, root: str, config: IngestConfig) -> IngestSummary:
    """Ingest the corpus at ``corpus``; write catalog, transcripts and rejects under ``root``."""
    from pyspark import StorageLevel

    corpus = str(corpus)
    if "://" not in corpus:  # executors may not share the driver's working directory
        corpus = os.path.abspath(corpus)
    catalog_url = find_catalog(corpus, config)
    sc = spark.sparkContext
    partitions = config.partitions or sc.defaultParallelism
    # zipWithIndex numbers lines in file order, whatever the partitioning.
    # One partition unless the file spans several blocks: zipWithIndex then needs no
    # job of its own to count the lines of every partition but the last.
    parsed = sc.textFile(catalog_url, minPartitions=1).zipWithIndex().flatMap(_parsed_records)
    parsed = parsed.persist(StorageLevel.MEMORY_AND_DISK)  # read and parse the catalog once
    items = parsed.filter(functools.partial(_is_kind, "item")).map(operator.itemgetter(1))
    records = (
        items.groupByKey(numPartitions=partitions)
        .mapPartitions(functools.partial(_item_records, corpus=corpus, config=config))
        .union(parsed.filter(lambda r: r[0] != "item"))
        .persist(StorageLevel.MEMORY_AND_DISK)  # read item files once, write three tables
    )
    try:
        # One job counts everything and finds every audio_id that names two files
        # (keys.check_audio_ids's collision check, without a query of its own).
        tally = records.flatMap(_tally_keys).reduceByKey(_tally_add).filter(_is_reported)
        found = tally.collectAsMap()
        collision = keys.collision_error((k, v) for k, v in found.items() if isinstance(k, int))
        if collision is not None:
            raise collision
        counts = {k: v for k, v in found.items() if isinstance(k, str)}
        frames = {}
        for table, kind in ((CATALOG, "catalog"), (TRANSCRIPTS, "transcript"), (REJECTS, "reject")):
            rows = records.filter(functools.partial(_is_kind, kind)).map(operator.itemgetter(1))
            frames[kind] = spark.createDataFrame(rows, table.spark)
        keys.check_spark_ids(frames["catalog"])
        out = int(spark.conf.get("spark.sql.shuffle.partitions") or 8)
        c, t, r = CATALOG.c, TRANSCRIPTS.c, REJECTS.c
        write_table(_sorted(frames["catalog"], out, c.audio_id, c.audio_id), root, CATALOG)
        write_table(
            _sorted(frames["transcript"], out, t.audio_id, t.audio_id, t.cue_index),
            root,
            TRANSCRIPTS,
        )
        order = (r.reason, r.identifier, r.file_name, r.cue_index, r.line_number, r.detail)
        write_table(
            _sorted(frames["reject"], out, r.identifier, *order), root, REJECTS, stage=STAGE
        )
    finally:
        records.unpersist()
        parsed.unpersist()
    catalog_lines = counts.pop("catalog_lines", 0)
    summary = IngestSummary(catalog_lines=catalog_lines, counts=dict(sorted(counts.items())))
    for key, value in summary.counts.items():
        log.info("ingest %s: %d", key, value)
    return summary


def run(ctx: StageContext) -> Summary:
    """The registry's entry: ingest the corpus of ``ctx`` with its ``[ingest]`` settings."""
    summary = run_ingest(ctx.spark, ctx.require_corpus(), ctx.root, ctx.config.ingest)
    return dataclasses.asdict(summary)
