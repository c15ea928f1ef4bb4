import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from galvasr.ingest.catalog import (
    CatalogFile,
    Item,
    LineReject,
    item_path,
    kind_of,
    pair_files,
    parse_catalog_line,
    safe_name,
)


def _line(**item):
    return json.dumps(item)


def test_parse_an_archive_org_line():
    line = _line(
        metadata={"identifier": "talks-2011", "licenseurl": "http://creativecommons.org/licenses/by/3.0/",
                  "title": "Talks", "creator": ["A. One", "B. Two"], "language": "eng",
                  "date": 2011},
        files=[{"name": "a.mp3", "source": "original", "format": "VBR MP3", "size": "12"},
               "a.srt", {"name": "a_64kb.mp3", "source": "derivative", "original": "a.mp3"},
               {"format": "no name"}, 7],
    )  # fmt: skip
    item = parse_catalog_line(3, line)
    assert isinstance(item, Item)
    assert item.line_number == 3
    assert item.identifier == "talks-2011"
    assert item.license_url == "http://creativecommons.org/licenses/by/3.0/"
    assert (item.title, item.creator, item.language, item.date) == (
        "Talks", "A. One; B. Two", "eng", "2011",
    )  # fmt: skip
    assert item.files == (
        CatalogFile("a.mp3", "original"),
        CatalogFile("a.srt"),
        CatalogFile("a_64kb.mp3", "derivative", "a.mp3"),
    )
    assert len(item.bad_entries) == 2


def test_blank_lines_are_not_items():
    assert parse_catalog_line(1, "") is None
    assert parse_catalog_line(1, "  \r") is None


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "catalog:malformed-line"),
        ('{"metadata": {"identifier": "a"}', "catalog:malformed-line"),
        ("[1, 2]", "catalog:malformed-line"),
        ('"just a string"', "catalog:malformed-line"),
        ("1" * 5000, "catalog:malformed-line"),
        ("[" * 100_000, "catalog:malformed-line"),
        (_line(metadata={"title": "no identifier"}, files=[]), "catalog:malformed-line"),
        (_line(metadata={"identifier": 5}, files=[]), "catalog:malformed-line"),
        (_line(metadata="x", files=[]), "catalog:malformed-line"),
        (_line(metadata={"identifier": "a"}, files={"a.mp3": {}}), "catalog:malformed-line"),
        (_line(identifier="a", metadata={"identifier": "b"}), "catalog:malformed-line"),
        (_line(metadata={"identifier": "../etc"}, files=["a.mp3"]), "catalog:unsafe-path"),
        (_line(metadata={"identifier": "."}, files=[]), "catalog:unsafe-path"),
        (_line(metadata={"identifier": "/abs"}, files=[]), "catalog:unsafe-path"),
        (_line(metadata={"identifier": "a/b"}, files=[]), "catalog:unsafe-path"),
        (_line(metadata={"identifier": "a\x00b"}, files=[]), "catalog:unsafe-path"),
        (_line(metadata={"identifier": "x" * 101}, files=[]), "catalog:unsafe-path"),
    ],
)
def test_bad_lines_are_refused(line, reason):
    result = parse_catalog_line(9, line)
    assert isinstance(result, LineReject)
    assert (result.line_number, result.reason) == (9, reason)
    assert result.detail


def test_an_unsafe_identifier_still_names_its_files():
    line = _line(metadata={"identifier": "../x"}, files=["a.mp3", "a.srt", "cover.jpg"])
    result = parse_catalog_line(1, line)
    assert isinstance(result, LineReject)
    assert result.file_names == ("a.mp3", "a.srt")
    assert result.identifier == "../x"


def test_identifier_may_sit_at_the_top_level_too():
    item = parse_catalog_line(1, _line(identifier="a", files=["a.mp3"]))
    assert isinstance(item, Item) and item.identifier == "a"


@pytest.mark.parametrize(
    "name",
    ["../a.mp3", "a/../../b.mp3", "/etc/passwd", "C:/x.mp3", "a\\b.mp3", "a\x00.mp3", "a//b.mp3",
     "./a.mp3", "a/", "", "x" * 2000, "a\nb.mp3"],
)  # fmt: skip
def test_unsafe_names(name):
    assert safe_name(name) is not None
    with pytest.raises(ValueError):
        item_path("items", "ident", name)


@pytest.mark.parametrize("name", ["a.mp3", "disc 1/track 01.mp3", "..a.mp3", "a..b.srt", "é.ogg"])
def test_safe_names(name):
    assert safe_name(name) is None
    assert item_path("items", "ident", name) == f"items/ident/{name}"


@pytest.mark.parametrize(
    ("items_dir", "path"),
    [(".", "ident/a.mp3"), ("", "ident/a.mp3"), ("./", "ident/a.mp3"),
     ("media/", "media/ident/a.mp3"), ("./a/b", "a/b/ident/a.mp3")],
)  # fmt: skip
def test_items_may_lie_at_the_corpus_root(items_dir, path):
    """``ia download`` puts each item's folder at the root: items_dir ".", no "./" in paths."""
    assert item_path(items_dir, "ident", "a.mp3") == path


@pytest.mark.parametrize("identifier", ["ident\n", "ident\r", "\nident", "a/b", "..", ".a"])
def test_identifiers_are_matched_whole(identifier):
    """'$' of re.match also matches before a trailing newline: identifiers are fullmatched."""
    with pytest.raises(ValueError):
        item_path("items", identifier, "a.mp3")
    parsed = parse_catalog_line(1, json.dumps({"metadata": {"identifier": identifier}}))
    assert getattr(parsed, "reason", None) == "catalog:unsafe-path"


def test_kind_of():
    assert kind_of("A.MP3") == "audio"
    assert kind_of("x.flac") == "audio"
    assert kind_of("x.Srt") == "subtitle"
    assert kind_of("x.vtt") == "subtitle"
    assert kind_of("x_meta.xml") is None
    assert kind_of("mp3") is None


# ----------------------------------------------------------------- pairing


def _pairing(*names, **extra):
    files = [CatalogFile(n) for n in names] + list(extra.get("files", []))
    result = pair_files(files)
    pairs = [(p.audio.name, p.subtitle.name) for p in result.pairs]
    rejects = sorted((r.name, r.reason) for r in result.rejects)
    return pairs, rejects, sorted(result.ignored)


def test_pairs_by_stem_with_several_audio_files():
    pairs, rejects, ignored = _pairing(
        "b.mp3", "a.mp3", "a.srt", "b.vtt", "c.ogg", "d.srt", "a_meta.xml", "cover.jpg"
    )
    assert pairs == [("a.mp3", "a.srt"), ("b.mp3", "b.vtt")]
    assert rejects == [("c.ogg", "subtitle:none"), ("d.srt", "subtitle:unpaired")]
    assert ignored == ["a_meta.xml", "cover.jpg"]


def test_stems_compare_case_insensitively_and_keep_folders():
    pairs, rejects, _ = _pairing("Disc1/Talk.MP3", "disc1/talk.srt", "disc2/talk.mp3")
    assert pairs == [("Disc1/Talk.MP3", "disc1/talk.srt")]
    assert rejects == [("disc2/talk.mp3", "subtitle:none")]


def test_the_only_subtitle_goes_to_the_only_audio():
    pairs, rejects, _ = _pairing("recording.ogg", "captions.vtt")
    assert (pairs, rejects) == ([("recording.ogg", "captions.vtt")], [])
    # ... but not when several audio files could take it
    pairs, rejects, _ = _pairing("part1.mp3", "part2.mp3", "captions.srt")
    assert pairs == []
    assert rejects == [("captions.srt", "subtitle:unpaired"), ("part1.mp3", "subtitle:none"),
                       ("part2.mp3", "subtitle:none")]  # fmt: skip
    # ... nor when its stem already paired it
    pairs, rejects, _ = _pairing("a.mp3", "b.mp3", "a.srt")
    assert pairs == [("a.mp3", "a.srt")]
    assert rejects == [("b.mp3", "subtitle:none")]


def test_srt_wins_over_vtt_and_the_other_is_unpaired():
    pairs, rejects, _ = _pairing("a.mp3", "a.vtt", "a.srt")
    assert pairs == [("a.mp3", "a.srt")]
    assert rejects == [("a.vtt", "subtitle:unpaired")]


def test_a_subtitle_serves_every_original_of_its_stem():
    pairs, rejects, _ = _pairing("a.flac", "a.ogg", "a.srt")
    assert pairs == [("a.flac", "a.srt"), ("a.ogg", "a.srt")]
    assert rejects == []


def test_derivatives_of_an_audio_file_are_refused():
    derived = [CatalogFile("a_64kb.mp3", "derivative", "a.flac"),
               CatalogFile("a.ogg", "derivative", "a.flac"),
               CatalogFile("b.mp3", "derivative", "b.mp4")]  # fmt: skip
    pairs, rejects, _ = _pairing("a.flac", "a.srt", "b.srt", files=derived)
    assert pairs == [("a.flac", "a.srt"), ("b.mp3", "b.srt")]
    assert rejects == [("a.ogg", "audio:derivative"), ("a_64kb.mp3", "audio:derivative")]


def test_unsafe_and_duplicate_names_are_refused_and_never_paired():
    pairs, rejects, _ = _pairing("../a.mp3", "a.srt", "b.mp3", "b.srt", "b.mp3", "/x.vtt")
    assert pairs == [("b.mp3", "b.srt")]
    assert rejects == [
        ("../a.mp3", "catalog:unsafe-path"),
        ("/x.vtt", "catalog:unsafe-path"),
        ("a.srt", "subtitle:unpaired"),
        ("b.mp3", "catalog:duplicate-file"),
    ]


def test_every_audio_and_subtitle_file_has_one_fate():
    names = ["a.mp3", "a.ogg", "a.srt", "a.vtt", "b.mp3", "c.srt", "../d.mp3", "d.srt",
             "e.wav", "e.wav", "x.xml"]  # fmt: skip
    result = pair_files([CatalogFile(n) for n in names])
    paired_audio = [p.audio.name for p in result.pairs]
    paired_subs = {p.subtitle.name for p in result.pairs}
    rejected = [r.name for r in result.rejects]
    media = [n for n in names if kind_of(n)]
    assert sorted(paired_audio + list(paired_subs) + rejected) == sorted(media)


_NAMES = st.builds(
    lambda d, s, e: f"{d}{s}.{e}",
    st.sampled_from(["", "d/", "../", "/", "D/"]),
    st.sampled_from(["a", "A", "b", "a.en", "c"]),
    st.sampled_from(["mp3", "ogg", "srt", "vtt", "SRT", "xml", "jpg"]),
)
_FILES = st.lists(
    st.builds(
        CatalogFile,
        _NAMES,
        st.sampled_from([None, "original", "derivative"]),
        st.one_of(st.none(), _NAMES),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(_FILES)
def test_pairing_gives_every_listed_file_one_fate(files):
    result = pair_files(files)
    audio = [p.audio.name for p in result.pairs]
    subtitles = {p.subtitle.name for p in result.pairs}
    rejected = [r.name for r in result.rejects]
    assert len(audio) == len(set(audio))
    listed = sorted(f.name for f in files if kind_of(f.name))
    assert sorted(audio + sorted(subtitles) + rejected) == listed
    assert sorted(result.ignored) == sorted(f.name for f in files if not kind_of(f.name))
    for p in result.pairs:
        assert kind_of(p.audio.name) == "audio" and kind_of(p.subtitle.name) == "subtitle"
        assert safe_name(p.audio.name) is None and safe_name(p.subtitle.name) is None
