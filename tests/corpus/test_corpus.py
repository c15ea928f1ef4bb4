"""The sample corpus in data/sample is what its manifest and README say it is.

Every claim is checked on the committed bytes: the audio (decoded with PyAV
at its own rate), the subtitle files (read with a small parser of their own,
independent of galvasr.subtitles) and the catalog. The generator itself is
checked for determinism on two short items, and against the committed corpus.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from galvasr.corpus import generate as gen

CORPUS = Path(__file__).resolve().parents[2] / "data" / "sample"
ONSET_TOLERANCE_MS = 20.0
END_TOLERANCE_MS = 30.0  # low-rate MP3 smears a little energy past the end
ONSET_THRESHOLD_DB = -45.0  # 5 ms RMS, relative to the loudest 5 ms of the file
KEPT_LICENSES = {"public-domain", "cc0", "cc-by", "cc-by-sa"}


def _jsonl(name: str) -> list[dict[str, Any]]:
    with open(CORPUS / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@cache
def manifest() -> dict[str, Any]:
    return json.loads((CORPUS / gen.MANIFEST).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@cache
def catalog() -> dict[str, dict[str, Any]]:
    return {row["metadata"]["identifier"]: row for row in _jsonl(gen.CATALOG)}


@cache
def truth() -> dict[tuple[str, str], list[dict[str, Any]]]:
    out: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in _jsonl(gen.GROUND_TRUTH):
        out[row["identifier"], row["audio_file"]].append(row)
    return dict(out)


@cache
def cue_truth() -> dict[tuple[str, str], list[dict[str, Any]]]:
    out: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in _jsonl(gen.CUE_TRUTH):
        out[row["identifier"], row["subtitle_file"]].append(row)
    return dict(out)


def pairs() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(item, f) for item in manifest()["items"] for f in item["files"]]


def usable_subtitles() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Pairs whose audio decodes and whose subtitle file holds cues."""
    return [(i, f) for i, f in pairs() if not f["audio"]["fault"] and not f["subtitle"]["fault"]]


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower().replace("\u2019", "'"))


# ------------------------------------------------------------------ reading


def decode_mono(path: Path) -> tuple[np.ndarray, int, dict[str, Any]]:
    """Float mono samples at the file's own rate, and what the stream says."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.rate
        info = {"codec": stream.codec_context.name, "channels": stream.channels, "rate": rate}
        mixer = av.AudioResampler(format="fltp", layout="mono", rate=rate)
        chunks = [o.to_ndarray()[0] for fr in container.decode(stream) for o in mixer.resample(fr)]
        chunks += [o.to_ndarray()[0] for o in mixer.resample(None)]
    return np.concatenate(chunks).astype(np.float64), rate, info


def subtitle_text(data: bytes, encoding: str, newlines: bool = True) -> str:
    """The text of a subtitle file in its declared encoding, newlines made "\\n"."""
    if encoding == "utf-8":
        text = data.decode("utf-8")
    elif encoding == "utf-8+bom":
        assert data.startswith(codecs.BOM_UTF8)
        text = data[3:].decode("utf-8")
    elif encoding == "cp1252+utf-8-bom":
        assert data.startswith(codecs.BOM_UTF8)
        text = data[3:].decode("cp1252")
    elif encoding == "utf-16-le+bom":
        assert data.startswith(codecs.BOM_UTF16_LE)
        text = data[2:].decode("utf-16-le")
    else:
        raise AssertionError(f"unknown encoding {encoding}")
    return text.replace("\r\n", "\n") if newlines else text


_TIME = re.compile(r"^(?:(\d+):)?(\d\d):(\d\d)[,.](\d\d\d)$")


def _ms(stamp: str) -> int:
    m = _TIME.match(stamp)
    assert m, stamp
    h, mi, s, milli = (int(g or 0) for g in m.groups())
    return ((h * 60 + mi) * 60 + s) * 1000 + milli


def parse_cues(text: str) -> list[tuple[int, int, str]]:
    """(start_ms, end_ms, text) of every cue of an SRT or WebVTT file."""
    cues = []
    for block in re.split(r"\n[ \t]*\n", text.strip("\n")):
        lines = block.split("\n")
        for k, line in enumerate(lines):
            if "-->" in line:
                start, rest = line.split("-->")
                cues.append((_ms(start.strip()), _ms(rest.split()[0]), "\n".join(lines[k + 1 :])))
                break
    return cues


def plain(text_raw: str, tags: list[str]) -> str:
    """Cue text without tags, speaker labels and a leading [sound] note."""
    text = re.sub(r"<[^>]*>", "", text_raw)
    text = re.sub(r"^(>> )?[A-Z][A-Z ]+: ", "", text)
    if "inline_sound" in tags:  # the Bible has parentheses of its own
        text = re.sub(r"^(\[[^\]]*\]|\([^)]*\)) ", "", text)
    return text


# ------------------------------------------------------------------ catalog


def test_catalog_is_archive_org_shaped_and_matches_the_files() -> None:
    items = catalog()
    assert 12 <= len(items) <= 16
    assert list(items) == [i["identifier"] for i in manifest()["items"]]
    missing = set(manifest()["faults"]["audio:missing"])
    for identifier, row in items.items():
        md = row["metadata"]
        for key in ("identifier", "title", "creator", "language", "date"):
            assert md[key], (identifier, key)
        folder = CORPUS / "items" / identifier
        listed = set()
        for f in row["files"]:
            assert set(f) >= {"name", "format", "size"}
            assert isinstance(f["size"], str) and f["size"].isdigit()  # as archive.org has it
            listed.add(f["name"])
            path = folder / f["name"]
            if f"{identifier}/{f['name']}" in missing:
                assert not path.exists()
                continue
            data = path.read_bytes()
            assert int(f["size"]) == len(data), path
            assert f["md5"] == hashlib.md5(data).hexdigest(), path
        assert {p.name for p in folder.iterdir()} == listed - {
            m.split("/", 1)[1] for m in missing if m.startswith(identifier + "/")
        }


def test_corpus_size_and_length() -> None:
    total = sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file())
    assert total <= 25_000_000
    minutes = manifest()["totals"]["audio_minutes"]
    assert 36 <= minutes <= 44
    for item in manifest()["items"]:
        item_minutes = sum(f["audio"]["duration_ms"] for f in item["files"]) / 60_000
        assert 1 <= item_minutes <= 8, item["identifier"]


def test_pairing_by_stem() -> None:
    for item, f in pairs():
        assert f["audio_file"].rsplit(".", 1)[0] == f["subtitle_file"].rsplit(".", 1)[0]
        names = [x["name"] for x in catalog()[item["identifier"]]["files"]]
        assert f["audio_file"] in names and f["subtitle_file"] in names


# ----------------------------------------------------------------- licenses


def test_licenses_kept_and_refused() -> None:
    items = manifest()["items"]
    kept = [i for i in items if i["expected"] == "keep"]
    refused = {i["expected"] for i in items if i["expected"] != "keep"}
    assert refused == {
        "license:cc-by-nc", "license:cc-by-nd", "license:missing", "license:all-rights-reserved"
    }  # fmt: skip
    assert sum(i["expected"] != "keep" for i in items) == 4  # each refused for its own reason
    assert {i["expected_license"] for i in kept} == KEPT_LICENSES
    urls = [catalog()[i["identifier"]]["metadata"]["licenseurl"] for i in kept]
    for needle in ("/by/3.0", "/by/4.0", "/by-sa/4.0", "publicdomain/mark/1.0", "zero/1.0"):
        assert any(needle in u for u in urls), needle
    assert any(u.startswith("http://") for u in urls) and any(
        u.startswith("https://") for u in urls
    )
    assert any(u.endswith("/") for u in urls) and any(u[-1].isdigit() for u in urls)
    assert any(u.endswith("deed.en") for u in urls) and any(u.endswith("legalcode") for u in urls)
    unlicensed = [i for i in items if i["expected"] == "license:missing"][0]
    assert "licenseurl" not in catalog()[unlicensed["identifier"]]["metadata"]
    arr = [i for i in items if i["expected"] == "license:all-rights-reserved"][0]
    assert "all rights reserved" in catalog()[arr["identifier"]]["metadata"]["rights"].lower()


def test_licenses_agree_with_galvasr_licenses() -> None:
    from galvasr.licenses import License, normalize_license

    for item in manifest()["items"]:
        got = normalize_license(catalog()[item["identifier"]]["metadata"].get("licenseurl"))
        if item["expected"] == "keep":
            assert got == License(item["expected_license"]), item["identifier"]
        else:
            assert not isinstance(got, License) and got.reason == item["expected"]


# -------------------------------------------------------------------- audio


def test_audio_formats_rates_and_channels() -> None:
    formats, rates, stereo = set(), set(), 0
    codec_of = {"mp3": "mp3", "ogg": "vorbis", "flac": "flac", "wav": "pcm_s16le"}
    for item, f in pairs():
        a = f["audio"]
        if a["fault"]:
            continue
        x, rate, info = decode_mono(CORPUS / "items" / item["identifier"] / f["audio_file"])
        assert info["codec"].startswith(codec_of[a["format"]]), (f["audio_file"], info)
        assert (rate, info["channels"]) == (a["sample_rate"], a["channels"])
        # exact, give or take a codec block at the end (where there is only silence)
        assert abs(x.size - a["num_samples"]) <= 2048, f["audio_file"]
        formats.add(a["format"])
        rates.add(rate)
        stereo += a["channels"] == 2
    assert formats == {"mp3", "ogg", "flac", "wav"}
    assert min(rates) == 8_000 and max(rates) == 48_000 and len(rates) >= 6
    assert stereo >= 2


def test_speech_starts_and_ends_where_ground_truth_says() -> None:
    """The first 5 ms window above the threshold, searched from 200 ms before each
    labelled start, is centred within 20 ms of it: silence before, speech at once.
    Likewise the last one up to 200 ms after each labelled end, within 30 ms."""
    errors = []
    for (identifier, name), rows in truth().items():
        x, rate, _ = decode_mono(CORPUS / "items" / identifier / name)
        win, hop = round(0.005 * rate), rate // 1000
        energy = np.concatenate([[0.0], np.cumsum(x * x)])
        starts = np.arange(0, x.size - win, hop)
        rms = np.sqrt((energy[starts + win] - energy[starts]) / win)
        loud = rms >= rms.max() * 10 ** (ONSET_THRESHOLD_DB / 20)
        for row in rows:
            t = row["start_ms"] / 1000
            lo, hi = int((t - 0.2) * rate) // hop, int((t + 0.1) * rate) // hop
            found = np.flatnonzero(loud[lo:hi])
            onset_ms = (starts[lo + found[0]] + win / 2) / rate * 1000 if found.size else np.inf
            errors.append(onset_ms - row["start_ms"])
            assert abs(onset_ms - row["start_ms"]) <= ONSET_TOLERANCE_MS, (name, row)
            t = row["end_ms"] / 1000
            lo, hi = int((t - 0.1) * rate) // hop, int((t + 0.2) * rate) // hop
            found = np.flatnonzero(loud[lo:hi])
            offset_ms = (starts[lo + found[-1]] + win / 2) / rate * 1000 if found.size else -np.inf
            assert abs(offset_ms - row["end_ms"]) <= END_TOLERANCE_MS, (name, row)
    assert len(errors) >= 400


def test_ground_truth_is_consistent() -> None:
    for (identifier, name), rows in truth().items():
        f = next(f for i, f in pairs() if i["identifier"] == identifier and f["audio_file"] == name)
        rate = f["audio"]["sample_rate"]
        assert [r["sentence_index"] for r in rows] == list(range(len(rows)))
        previous_end = 0
        for r in rows:
            assert r["sample_rate"] == rate and r["text"]
            assert r["start_ms"] == round(r["start_sample"] * 1000 / rate, 3)
            assert r["end_ms"] == round(r["end_sample"] * 1000 / rate, 3)
            assert r["start_sample"] - previous_end >= 0.3 * rate - 1  # the shortest pause
            assert r["end_sample"] > r["start_sample"]
            previous_end = r["end_sample"]
        assert previous_end < f["audio"]["num_samples"]
    spoken = [words(r["text"]) for rows in truth().values() for r in rows]
    voices = {r["voice"] for rows in truth().values() for r in rows}
    assert len(voices) >= 8 and {v.split("/")[0] for v in voices} == {"espeak-ng", "flite"}
    assert len(spoken) >= 400


def test_broken_audio_files() -> None:
    faults = manifest()["faults"]
    for where in faults["audio:empty"]:
        assert (CORPUS / "items" / where).stat().st_size == 0
    for where in faults["audio:missing"]:
        assert not (CORPUS / "items" / where).exists()
    for where in faults["audio:undecodable"]:
        path = CORPUS / "items" / where
        assert path.stat().st_size > 10_000
        try:
            x, _, _ = decode_mono(path)
        except (av.error.FFmpegError, IndexError):
            continue  # refused outright
        assert x.size == 0, where


# ---------------------------------------------------------------- subtitles


def test_unusable_subtitle_files() -> None:
    faults = manifest()["faults"]
    for where in faults["subtitle:empty"]:
        assert (CORPUS / "items" / where).stat().st_size == 0
    for where in faults["subtitle:unparsable"]:
        text = (CORPUS / "items" / where).read_text(encoding="utf-8")
        assert text.strip() and "-->" not in text and not parse_cues(text)


def test_encodings_and_newlines() -> None:
    faults = manifest()["faults"]
    (cp1252,) = faults["encoding:cp1252+utf-8-bom"]
    data = (CORPUS / "items" / cp1252).read_bytes()
    assert data.startswith(codecs.BOM_UTF8)
    with pytest.raises(UnicodeDecodeError):
        data[3:].decode("utf-8")
    assert re.search("[\u2019\u00e9\u201c]", data[3:].decode("cp1252"))
    (utf16,) = faults["encoding:utf-16-le+bom"]
    data = (CORPUS / "items" / utf16).read_bytes()
    assert data.startswith(codecs.BOM_UTF16_LE) and "-->" in data[2:].decode("utf-16-le")
    for where in faults["encoding:utf-8+bom"]:
        assert (CORPUS / "items" / where).read_bytes().startswith(codecs.BOM_UTF8)
    for where in faults["newline:crlf"]:
        f = next(f for i, f in pairs() if f"{i['identifier']}/{f['subtitle_file']}" == where)
        data = (CORPUS / "items" / where).read_bytes()
        text = subtitle_text(data, f["subtitle"]["encoding"], newlines=False)
        assert text.count("\r\n") == text.count("\n") > 10


def test_cue_truth_is_what_the_files_say() -> None:
    for item, f in usable_subtitles():
        s = f["subtitle"]
        data = (CORPUS / "items" / item["identifier"] / f["subtitle_file"]).read_bytes()
        parsed = parse_cues(subtitle_text(data, s["encoding"]))
        rows = cue_truth()[item["identifier"], f["subtitle_file"]]
        assert [(r["start_ms"], r["end_ms"], r["text_raw"]) for r in rows] == parsed
        assert (
            [r["cue_index"] for r in rows] == list(range(len(rows))) == list(range(s["num_cues"]))
        )
        starts = [r["start_ms"] for r in rows]
        assert starts == sorted(set(starts))  # the file lists cues in start order


def test_cues_carry_what_is_spoken_when_it_is_spoken() -> None:
    """Speech cues hold their spoken words and sit where the speech is, moved by
    the declared offset and drift; text of the other kinds is spoken nowhere."""
    all_spoken = " ".join(" ".join(words(r["text"])) for rows in truth().values() for r in rows)
    for item, f in usable_subtitles():
        s, a = f["subtitle"], f["audio"]
        for value in (s["offset_ms"], s["drift_ms"]):
            assert value == 0 or 1000 <= abs(value) <= 3000
        sentences = truth()[item["identifier"], f["audio_file"]]

        def moved(t: float) -> float:
            return t + s["offset_ms"] + s["drift_ms"] * t / a["duration_ms"]  # noqa: B023

        for r in cue_truth()[item["identifier"], f["subtitle_file"]]:
            if r["kind"] != "speech":
                assert r["true_start_ms"] is None and not r["sentence_indices"]
                if r["kind"] == "unspoken":
                    assert " ".join(words(r["text_raw"])) not in all_spoken
                continue
            assert words(plain(r["text_raw"], r["tags"])) == words(r["spoken_text"])
            assert " ".join(words(r["spoken_text"])) in " ".join(
                " ".join(words(sentences[k]["text"])) for k in r["sentence_indices"]
            )
            first, last = sentences[r["sentence_indices"][0]], sentences[r["sentence_indices"][-1]]
            assert first["start_ms"] <= r["true_start_ms"] < r["true_end_ms"] <= last["end_ms"]
            lead = r["start_ms"] - moved(r["true_start_ms"])
            lag = r["end_ms"] - moved(r["true_end_ms"])
            stretch = 1 + max(0, s["drift_ms"]) / a["duration_ms"]  # drift stretches time too
            assert -250 * stretch - 1 <= lead <= 2, r  # 0 to 0.25 s early (+1 ms to keep order)
            assert lag >= -1 and ("overlap" in r["tags"] or lag <= 500 * stretch + 1), r


def test_every_declared_subtitle_fault_is_there() -> None:
    checked = {
        "timing:offset", "timing:drift", "cues:split", "cues:merged", "cues:overlapping",
        "text:unspoken", "speech:unsubtitled", "markup:html", "markup:italics",
        "markup:speaker-label", "markup:music", "markup:sound", "markup:inline-sound",
        "encoding:utf-8+bom", "encoding:cp1252+utf-8-bom", "encoding:utf-16-le+bom",
        "newline:crlf", "audio:stereo", "audio:undecodable", "audio:empty", "audio:missing",
        "subtitle:empty", "subtitle:unparsable", "license:cc-by-nc", "license:cc-by-nd",
        "license:missing", "license:all-rights-reserved",
    }  # fmt: skip
    assert set(manifest()["faults"]) == checked  # each is checked by a test in this file
    unspoken_chars = total_chars = 0
    for item, f in usable_subtitles():
        s = f["subtitle"]
        rows = cue_truth()[item["identifier"], f["subtitle_file"]]
        text = {r["cue_index"]: r["text_raw"] for r in rows}
        by_tag: dict[str, list[int]] = defaultdict(list)
        for r in rows:
            for tag in r["tags"]:
                by_tag[tag].append(r["cue_index"])
        assert s["cues_by_kind"] == {
            k: sum(r["kind"] == k for r in rows) for k in ("speech", "unspoken", "music", "sound")
        }
        overlapping = [
            [a["cue_index"], b["cue_index"]]
            for a in rows
            for b in rows[a["cue_index"] + 1 :]
            if b["start_ms"] < a["end_ms"]
        ]
        assert s["overlapping_cue_pairs"] == overlapping
        assert s["music_cues"] == [r["cue_index"] for r in rows if r["kind"] == "music"]
        assert all(re.search("[\u266a\u266b]", text[i]) for i in s["music_cues"])
        assert s["sound_cues"] == [r["cue_index"] for r in rows if r["kind"] == "sound"]
        assert all(re.fullmatch(r"\[[^\]]+\]|\([^)]+\)", text[i]) for i in s["sound_cues"])
        assert s["inline_sound_cues"] == by_tag["inline_sound"]
        assert all(re.search(r"^(<[^>]+>)*(\[[^\]]+\]|\([^)]+\))", text[i]) for i in
                   s["inline_sound_cues"])  # fmt: skip
        assert s["html_cues"] == by_tag["html"]
        assert all(re.search(r"<(i|b|u|font|c\.)[^>]*>", text[i]) for i in s["html_cues"])
        assert s["italic_cues"] == by_tag["italics"]
        assert all("<i>" in text[i] for i in s["italic_cues"])
        assert s["speaker_label_cues"] == by_tag["speaker_label"]
        label = {"colon": r"^[A-Z ]+: ", "chevron": r"^>> [A-Z ]+: ", "voice": r"^<v [A-Za-z ]+>"}
        for i in s["speaker_label_cues"]:
            assert re.search(label[s["speaker_label_style"]], text[i])
        assert s["unspoken_cues"] == [r["cue_index"] for r in rows if r["kind"] == "unspoken"]
        assert s["merged_cues"] == by_tag["merged"]
        assert all(len(rows[i]["sentence_indices"]) >= 2 for i in s["merged_cues"])
        assert s["split_cues"] == by_tag["split"]
        sentences = truth()[item["identifier"], f["audio_file"]]
        for i in s["split_cues"]:
            (k,) = rows[i]["sentence_indices"]
            assert sentences[k]["num_parts"] == 2 and len(sentences[k]["cue_indices"]) == 2
        unsubtitled = [r["sentence_index"] for r in sentences if not r["subtitled"]]
        assert s["unsubtitled_sentences"] == unsubtitled
        cue_words = " ".join(" ".join(words(plain(r["text_raw"], r["tags"]))) for r in rows)
        for k in unsubtitled:
            assert not sentences[k]["cue_indices"]
            assert " ".join(words(sentences[k]["text"])) not in cue_words
        for r in sentences:
            assert r["cue_indices"] == sorted(
                c["cue_index"] for c in rows if r["sentence_index"] in c["sentence_indices"]
            )
        u = sum(len(r["text_raw"].replace("\n", " ")) for r in rows if r["kind"] == "unspoken")
        t = u + sum(len(r["spoken_text"]) for r in rows if r["kind"] == "speech")
        assert s["unspoken_text_fraction"] == round(u / t, 4)
        unspoken_chars, total_chars = unspoken_chars + u, total_chars + t
    assert 0.03 <= unspoken_chars / total_chars <= 0.08  # "about 5 %"
    for where in manifest()["faults"]["audio:stereo"]:
        assert any(f"{i['identifier']}/{f['audio_file']}" == where and f["audio"]["channels"] == 2
                   for i, f in pairs())  # fmt: skip


# -------------------------------------------------------------- determinism


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _same_tools() -> bool:
    return manifest()["generator"]["tools"] == gen.tools()  # type: ignore[no-any-return]


def test_generator_is_deterministic_and_matches_the_committed_items(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    gen.generate(first, only=gen.SMALL_ITEMS)
    gen.generate(second, only=gen.SMALL_ITEMS)
    tree = _tree(first)
    assert tree == _tree(second)
    if not _same_tools():
        pytest.skip("synthesizer versions differ from the committed corpus's")
    for identifier in gen.SMALL_ITEMS:
        for name, data in tree.items():
            if name.startswith(f"items/{identifier}/"):
                assert (CORPUS / name).read_bytes() == data, name
    for name in (gen.CATALOG, gen.GROUND_TRUTH, gen.CUE_TRUTH):
        committed = set((CORPUS / name).read_text(encoding="utf-8").splitlines())
        assert set(tree[name].decode("utf-8").splitlines()) <= committed, name


@pytest.mark.slow
def test_committed_corpus_is_a_fresh_generation(tmp_path: Path) -> None:
    if not _same_tools():
        pytest.skip("synthesizer versions differ from the committed corpus's")
    gen.generate(tmp_path / "sample")
    fresh, committed = _tree(tmp_path / "sample"), _tree(CORPUS)
    assert sorted(fresh) == sorted(committed)
    assert [n for n in fresh if fresh[n] != committed[n]] == []


def test_voices_keep_their_engine_settings() -> None:
    """Items name voices in engine units; the shared Voice (relative rate and pitch)
    gives the same units back to the engine and in every label."""
    from galvasr.corpus.items import ITEMS
    from galvasr.synth.voices import espeak_voice, flite_voice

    for wpm in range(80, 451):
        for pitch in range(100):
            v = espeak_voice("en-gb+f3", wpm, pitch)
            assert (v.espeak_name, v.espeak_wpm, v.espeak_pitch) == ("en-gb+f3", wpm, pitch)
            assert v.id == f"espeak-ng/en-gb+f3/s{wpm}/p{pitch}"
    for name in ("kal", "slt"):
        for stretch in range(50, 201):
            for f0 in range(50, 301):
                v = flite_voice(name, stretch, f0)
                assert f"{1.0 / v.rate:.3f}" == f"{stretch / 100:.3f}"
                assert f"{v.flite_f0:.1f}" == f"{f0:.1f}"
                assert v.id == f"flite/{name}/d{stretch}/f{f0}"
    planned = {v.id for item in ITEMS for v in item.voices}
    spoken = {r["voice"] for rows in truth().values() for r in rows}
    assert spoken <= planned
