import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from galvasr.ingest.cue_text import MUSIC_NOTES, clean_cue_text
from galvasr.ingest.subtitles import (
    Subtitle,
    Unusable,
    decode_text,
    parse_subtitle,
    subtitle_format,
)

SRT = """1
00:00:01,000 --> 00:00:02,500
<i>Hello</i> &amp; welcome.

2
00:00:03,000 --> 00:00:04,000
JOHN: It's a "test" – café.
Second line.

3
00:00:04,500 --> 00:00:05,000
[MUSIC PLAYING]
"""

VTT = """WEBVTT - some title
Kind: captions

NOTE this comment must not become text
of any cue

STYLE
::cue { color: yellow }

intro
00:01.000 --> 00:02.500 align:start position:10%
<v Roger Bingham>We are in New York City

00:00:03.000 --> 00:00:04.000
>> and it is <c.yellow>raining</c>

3
00:00:05.000 --> 00:00:06.000
♪ la la la ♪
"""


def _cues(result):
    assert isinstance(result, Subtitle), result
    return [(c.index, c.start_ms, c.end_ms, c.text) for c in result.cues]


def test_srt_cues_keep_raw_and_clean_text():
    result = parse_subtitle(SRT.encode(), "talk.srt")
    assert _cues(result) == [
        (0, 1000, 2500, "Hello & welcome."),
        (1, 3000, 4000, 'It\'s a "test" – café. Second line.'),
    ]
    assert isinstance(result, Subtitle)
    assert result.cues[0].text_raw == "<i>Hello</i> &amp; welcome."
    assert result.cues[1].text_raw == 'JOHN: It\'s a "test" – café.\nSecond line.'
    assert [(d.index, d.reason) for d in result.dropped] == [(2, "cue:no-speech-text")]


def test_webvtt_header_notes_styles_and_identifiers_are_not_text():
    result = parse_subtitle(VTT.encode(), "talk.vtt")
    assert _cues(result) == [
        (0, 1000, 2500, "We are in New York City"),
        (1, 3000, 4000, "and it is raining"),
    ]
    assert isinstance(result, Subtitle)
    assert [(d.index, d.reason) for d in result.dropped] == [(2, "cue:no-speech-text")]


def test_webvtt_is_recognized_by_its_header_whatever_the_name():
    assert _cues(parse_subtitle(VTT.encode(), "talk.srt"))[0][3] == "We are in New York City"


def test_cues_are_numbered_in_start_order_and_bad_timings_dropped():
    srt = (
        "1\n00:00:05,000 --> 00:00:06,000\nthird\n\n"
        "2\n00:00:01,000 --> 00:00:02,000\nfirst\n\n"
        "3\n00:00:03,000 --> 00:00:03,000\nzero length\n\n"
        "4\n00:00:02,000 --> 00:00:03,000\nsecond\n"
    )
    result = parse_subtitle(srt.encode(), "a.srt")
    assert _cues(result) == [(0, 1000, 2000, "first"), (1, 2000, 3000, "second"),
                             (3, 5000, 6000, "third")]  # fmt: skip
    assert isinstance(result, Subtitle)
    assert [(d.index, d.reason) for d in result.dropped] == [(2, "cue:bad-timing")]


@pytest.mark.parametrize(
    "encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "cp1252"]
)
def test_any_encoding_gives_the_same_cues(encoding):
    srt = SRT.replace("\n", "\r\n")
    assert _cues(parse_subtitle(srt.encode(encoding), "a.srt")) == _cues(
        parse_subtitle(SRT.encode(), "a.srt")
    )


@pytest.mark.parametrize(
    ("data", "text", "encoding"),
    [
        ("héllo".encode(), "héllo", "utf-8"),
        ("héllo".encode("utf-8-sig"), "héllo", "utf-8"),
        ("héllo".encode("utf-16"), "héllo", "utf-16-le"),
        ("héllo\r\n".encode("utf-16-le"), "héllo\n", "utf-16-le"),
        ("“quoted” – café".encode("cp1252"), "“quoted” – café", "cp1252"),
        (b"\xef\xbb\xbf" + "Renée – “x”".encode("cp1252"), "Renée – “x”", "cp1252"),
        (b"caf\xe9 \x81", "café \x81", "latin-1"),
        (b"", "", "utf-8"),
    ],
)
def test_decode_text(data, text, encoding):
    assert decode_text(data) == (text, encoding)


@pytest.mark.parametrize(
    ("data", "name", "reason"),
    [
        (b"", "a.srt", "subtitle:empty"),
        (b" \r\n\r\n \t", "a.srt", "subtitle:empty"),
        ("\ufeff".encode(), "a.srt", "subtitle:empty"),
        (b"WEBVTT\n\n", "a.vtt", "subtitle:empty"),
        (b"WEBVTT\n\nNOTE nothing here\n", "a.vtt", "subtitle:empty"),
        (b"1\n00:00:01,000 --> 00:00:02,000\n[applause]\n", "a.srt", "subtitle:empty"),
        (b"1\n00:00:01,000 --> 00:00:02,000\n\n", "a.srt", "subtitle:empty"),
        (b"just some text, no timings\n", "a.srt", "subtitle:unparsable"),
        (b"WEBVTT\n\njust text\n", "a.vtt", "subtitle:unparsable"),
        (bytes(range(256)) * 4, "a.srt", "subtitle:unparsable"),
        (bytes(range(256)) * 4, "a.vtt", "subtitle:unparsable"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a.srt", "subtitle:unparsable"),
    ],
)
def test_unusable_files(data, name, reason):
    result = parse_subtitle(data, name)
    assert isinstance(result, Unusable)
    assert result.reason == reason


def test_subtitle_format():
    assert subtitle_format("a.SRT") == "srt"
    assert subtitle_format("dir/a.en.vtt") == "vtt"
    assert subtitle_format("a.ass") is None
    assert subtitle_format("srt") is None


# ------------------------------------------------------------ clean_cue_text


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("<i>Hello</i> &amp; welcome", "Hello & welcome"),
        ('<font color="#ffff00">yellow</font>', "yellow"),
        ("{\\an8}Up here", "Up here"),
        ("{\\i1}slanted{\\i0}", "slanted"),
        ("line one\\Nline two", "line one line two"),
        ("JOHN: Hello", "Hello"),
        ("DR. SMITH: Hello", "Hello"),
        ("MAN 2: Hello", "Hello"),
        ("JOSÉ: hola", "hola"),
        ("<i>JOHN:</i> Hello", "Hello"),
        ("- Speaker 1: hi\n- Speaker 2: hello", "hi hello"),
        ("-Are you there?\n-Yes.", "-Are you there? -Yes."),
        ("- Are you there?\n– Yes.", "Are you there? Yes."),
        (">> HOST: we are back", "we are back"),
        (">> and >> again", "and again"),
        ("[JOHN]: hello", "hello"),
        ("♪ la la la ♪", ""),
        ("♪♪", ""),
        ("Thank you.\n♫ outro music ♫", "Thank you."),
        ("[applause]", ""),
        ("(laughs) Okay. [MUSIC PLAYING]", "Okay."),
        ("[sighs\nheavily] fine", "fine"),
        ("(bell rings)", ""),
        ("(soft organ music)", ""),
        ("(he laughs) Hi", "Hi"),
        ("(AUDIENCE IS LAUGHING AT HIM) Hi", "Hi"),
        ("(but thou art rich) and I know", "(but thou art rich) and I know"),
        ("them, (he that came to Jesus by night,)", "them, (he that came to Jesus by night,)"),
        ("your faith to God-\nward is", "your faith to God-ward is"),
        ("He said -\nwait", "He said - wait"),
        ("one\n-Two", "one -Two"),
        ("[outer [inner] outer] left", "left"),
        ("&lt;b&gt;bold&lt;/b&gt;", "bold"),
        ("&amp;amp;", "&"),
        ("x < y and y > z", "x y and y z"),
        ("a\x00b\tc\u200bd\r\ne", "a b cd e"),
        ("  spaced   out  ", "spaced out"),
        ("I think: yes", "I think: yes"),
        ("Note: this stays", "Note: this stays"),
        ("-5 degrees", "-5 degrees"),
        ("10:30 AM", "10:30 AM"),
        ("<00:00:01.500>karaoke <00:00:02.000>words", "karaoke words"),
        ("می\u200cخواهم", "می\u200cخواهم"),
    ],
)
def test_clean_cue_text(raw, clean):
    assert clean_cue_text(raw) == clean


def test_crafted_cues_cost_linear_time():
    assert clean_cue_text("[[[x] y] z] left") == "left"
    assert clean_cue_text("[" * 20_000 + "x" + "]" * 20_000 + " left") == ""
    assert clean_cue_text("(" * 20_000 + "he said that it was" + ")" * 20_000) == ""
    assert clean_cue_text("[" * 20_000 + "left") == ""
    assert clean_cue_text("[ unclosed") == "[ unclosed"
    assert clean_cue_text(">> " * 20_000 + "hi") == "hi"
    # entities escaped twenty times over: never settles, so no speech
    assert clean_cue_text("&" + "amp;" * 20 + "lt;i&gt;x") == ""


_MARKUP = st.sampled_from(
    ["<i>", "</i>", "<b>", "<font color=red>", "{\\an8}", "&amp;", "&lt;", "&gt;", "&#10;",
     "[", "]", "(", ")", "♪", "JOHN:", "- ", ">>", "\n", "\r\n", "\t", "\x00", "\u200b",
     "\\N", " ", ":", "<", ">", "{", "}", "&", ";", "Speaker 1: ", " he ", " but it is ", "-",
     "-\n", "word", "WORD"]
)  # fmt: skip
_TEXT = st.lists(st.one_of(_MARKUP, st.text(max_size=8)), max_size=30).map("".join)


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_clean_cue_text_properties(raw):
    clean = clean_cue_text(raw)
    assert clean_cue_text(clean) == clean
    assert clean == clean.strip()
    assert "  " not in clean
    assert "<" not in clean and ">" not in clean
    assert not any(unicodedata.category(ch) in ("Cc", "Cs") for ch in clean)
    assert not any(ch in MUSIC_NOTES for ch in clean)
    assert len(clean) <= len(raw)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), st.sampled_from(["a.srt", "a.vtt"]))
def test_parse_subtitle_never_raises(data, name):
    result = parse_subtitle(data, name)
    if isinstance(result, Subtitle):
        assert result.cues
        starts = [c.start_ms for c in result.cues]
        assert starts == sorted(starts)
        assert all(c.end_ms > c.start_ms >= 0 and c.text for c in result.cues)
        indices = [c.index for c in result.cues] + [d.index for d in result.dropped]
        assert sorted(indices) == list(range(len(indices)))
