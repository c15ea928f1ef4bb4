"""The plan of the sample corpus: every item, file, voice and planted fault.

The plan is declared here, by hand, so that each fault sits where a reader
expects it; the generator draws only the details (pauses, which cues merge,
which sentences lose their subtitle...) from the seeded RNG. Each item reads
its own range of sentences of one book of the King James Version, so no
sentence is spoken twice in the corpus and text that a subtitle shows but
nobody speaks (taken from the same range, from its far end) is never spoken
anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from galvasr.synth.voices import Voice, espeak_voice, flite_voice

# Expected fates of a catalog file (manifest "expected"): "keep", or a reject reason.
KEEP = "keep"
AUDIO_UNDECODABLE = "audio:undecodable"  # bytes that no decoder takes for audio
AUDIO_EMPTY = "audio:empty"  # a 0-byte file
AUDIO_MISSING = "audio:missing"  # named in the catalog, absent from the item folder
SUBTITLE_EMPTY = "subtitle:empty"  # a 0-byte subtitle file
SUBTITLE_UNPARSABLE = "subtitle:unparsable"  # an HTML error page saved under .srt
AUDIO_FAULTS = (AUDIO_UNDECODABLE, AUDIO_EMPTY, AUDIO_MISSING)
SUBTITLE_FAULTS = (SUBTITLE_EMPTY, SUBTITLE_UNPARSABLE)

# Subtitle file encodings.
UTF8 = "utf-8"
UTF8_BOM = "utf-8+bom"
CP1252_BOM = "cp1252+utf-8-bom"  # the UTF-8 BOM bytes, then cp1252 text (a real-world mix-up)
UTF16_BOM = "utf-16-le+bom"
ENCODINGS = (UTF8, UTF8_BOM, CP1252_BOM, UTF16_BOM)

# Speaker label styles: "NARRATOR: text", ">> NARRATOR: text", "<v Narrator>text" (WebVTT).
LABEL_STYLES = ("colon", "chevron", "voice")


@dataclass(frozen=True)
class SubtitlePlan:
    """How one audio file's subtitle file is written, and which faults it carries.

    Written cue times follow ``written = true + offset_ms + drift_ms * true / duration``
    (``true`` in ms from the start of the audio, ``duration`` the audio's
    length), after the jitter real subtitles have; see subtitles_faults.
    """

    fmt: str  # "srt" or "vtt"
    encoding: str = UTF8
    crlf: bool = False
    offset_ms: int = 0
    drift_ms: int = 0  # extra offset reached at the end of the audio, growing linearly
    html: bool = False  # <i>, <b>, <u>, <font> (SRT) or <c.yellow> (VTT) markup
    speaker_labels: str | None = None  # at each change of reader: one of LABEL_STYLES
    music: bool = False  # ♪ cues over silent stretches
    sounds: bool = False  # [sound] and (sound) cues, and inline [sighs] in speech cues
    credit: str | None = None  # an unspoken credit line over the trailing silence
    fault: str | None = None  # SUBTITLE_EMPTY or SUBTITLE_UNPARSABLE: the file is replaced


@dataclass(frozen=True)
class AudioPlan:
    """One audio file of an item and its subtitle file (same stem, beside it)."""

    name: str  # file name inside the item, with extension
    fmt: str  # "mp3", "ogg", "flac", "wav"
    rate: int  # sample rate of the file, Hz
    seconds: float  # target length of speech; the file ends after the sentence that passes it
    subtitle: SubtitlePlan
    channels: int = 1
    bit_rate: int | None = None  # MP3 constant bit rate, bits per second
    fault: str | None = None  # one of AUDIO_FAULTS

    @property
    def subtitle_name(self) -> str:
        return self.name.rsplit(".", 1)[0] + "." + self.subtitle.fmt


@dataclass(frozen=True)
class ItemPlan:
    identifier: str
    title: str
    creator: str | tuple[str, ...]
    license_url: str | None  # None: the item has no licenseurl at all
    expected_license: str | None  # normalized license of a kept item (galvasr.licenses)
    item_reject: str | None  # the license reject reason of a refused item
    language: str
    date: str
    book: str  # textsource book whose sentences the item reads
    sentence_range: tuple[int, int]  # [first, stop) within the book's sentences
    voices: tuple[Voice, ...]  # several voices: the item alternates readers
    files: tuple[AudioPlan, ...]
    rights: str | None = None
    extra_metadata: dict[str, str] = field(default_factory=dict)


ITEMS: tuple[ItemPlan, ...] = (
    ItemPlan(
        identifier="oakhill-readings-john-01",
        title="The Gospel of John, read aloud: part 1",
        creator="Oak Hill Reading Circle",
        license_url="https://creativecommons.org/licenses/by/4.0/",
        expected_license="cc-by",
        item_reject=None,
        language="eng",
        date="2014-03-02",
        book="Joh",
        sentence_range=(0, 200),
        voices=(espeak_voice("en-us+m3", 165, 45),),
        files=(
            AudioPlan(
                "john_part1.mp3",
                "mp3",
                44_100,
                330,
                channels=2,
                bit_rate=48_000,
                subtitle=SubtitlePlan("srt", offset_ms=1500, html=True),
            ),
        ),
    ),  # fmt: skip
    ItemPlan(
        identifier="evening_lessons_vol2",
        title="Evening Lessons, Volume 2",
        creator=("M. Calloway", "J. Pruitt"),
        license_url="http://creativecommons.org/licenses/by/3.0",
        expected_license="cc-by",
        item_reject=None,
        language="English",
        date="2009",
        book="Joh",
        sentence_range=(500, 720),
        voices=(flite_voice("slt", 100, 170), flite_voice("awb", 105, 110)),
        files=(
            AudioPlan(
                "lessons_vol2.ogg",
                "ogg",
                48_000,
                300,
                channels=2,
                subtitle=SubtitlePlan("vtt", drift_ms=2400, speaker_labels="voice", sounds=True),
            ),
        ),
    ),  # fmt: skip
    ItemPlan(
        identifier="revelation-audio-project",
        title="Revelation (Audio Bible Project), discs 1 and 2",
        creator="Audio Bible Project volunteers",
        license_url="https://creativecommons.org/licenses/by-sa/4.0/deed.en",
        expected_license="cc-by-sa",
        item_reject=None,
        language="eng",
        date="2017-09-30",
        book="Rev",
        sentence_range=(0, 320),
        voices=(espeak_voice("en-gb+f3", 150, 60),),
        files=(
            AudioPlan(
                "rev_disc1.mp3",
                "mp3",
                22_050,
                210,
                bit_rate=32_000,
                subtitle=SubtitlePlan("srt", offset_ms=-1200, drift_ms=1000, music=True),
            ),
            AudioPlan(
                "rev_disc2.mp3",
                "mp3",
                22_050,
                150,
                bit_rate=32_000,
                subtitle=SubtitlePlan("srt", encoding=UTF8_BOM, offset_ms=2000, html=True),
            ),
        ),
    ),  # fmt: skip
    ItemPlan(
        identifier="pd_philippians_recitation",
        title="Epistle to the Philippians - full recitation",
        creator="Lantern Street Chapel",
        license_url="http://creativecommons.org/publicdomain/mark/1.0/",
        expected_license="public-domain",
        item_reject=None,
        language="eng",
        date="2012-06-17",
        book="Phi",
        sentence_range=(0, 137),
        voices=(flite_voice("rms", 95, 100),),
        files=(
            AudioPlan(
                "philippians.ogg",
                "ogg",
                16_000,
                240,
                subtitle=SubtitlePlan("vtt", offset_ms=-2000, html=True, sounds=True),
            ),
        ),
    ),  # fmt: skip
    ItemPlan(
        identifier="colossians_cc0_flac",
        title="Colossians (lossless master)",
        creator="Harbour Lane Recordings",
        license_url="https://creativecommons.org/publicdomain/zero/1.0/legalcode",
        expected_license="cc0",
        item_reject=None,
        language="en",
        date="2019-01-08",
        book="Col",
        sentence_range=(0, 123),
        voices=(espeak_voice("en-gb-scotland", 140, 35), espeak_voice("en-us+f4", 175, 65)),
        files=(
            AudioPlan(
                "colossians.flac",
                "flac",
                22_050,
                75,
                subtitle=SubtitlePlan(
                    "srt",
                    encoding=CP1252_BOM,
                    crlf=True,
                    offset_ms=1000,
                    speaker_labels="colon",
                    credit="Captions: Ren\u00e9e C\u00f4t\u00e9 \u2013 \u201cHarbour Lane\u201d",
                ),
            ),
        ),
    ),  # fmt: skip
    ItemPlan(
        identifier="thessalonians-phone-recording",
        title="1 Thessalonians, recorded over the phone line",
        creator="Call-in Reading Hour",
        license_url="http://creativecommons.org/licenses/by/4.0",
        expected_license="cc-by",
        item_reject=None,
        language="eng",
        date="2011-11-20",
        book="1Th",
        sentence_range=(0, 117),
        voices=(flite_voice("kal", 100, 105),),
        files=(
            AudioPlan(
                "thessalonians.wav",
                "wav",
                8_000,
                75,
                subtitle=SubtitlePlan("srt", encoding=UTF16_BOM, crlf=True, drift_ms=-1500),
            ),
        ),
    ),  # fmt: skip
    ItemPlan(
        identifier="jonah_complete_reading",
        title="Jonah: complete reading (tape sides A-C)",
        creator="Riverside Tape Archive",
        license_url="https://creativecommons.org/licenses/by/4.0/legalcode",
        expected_license="cc-by",
        item_reject=None,
        language="eng",
        date="2015-04-11",
        book="Jon",
        sentence_range=(0, 92),
        voices=(espeak_voice("en-us+f2", 190, 65),),
        files=(
            AudioPlan(
                "jonah_side_a.mp3",
                "mp3",
                24_000,
                210,
                bit_rate=40_000,
                subtitle=SubtitlePlan("srt", offset_ms=2500, credit="Transcribed by Riverside"),
            ),
            AudioPlan(
                "jonah_side_b.mp3",
                "mp3",
                24_000,
                30,
                bit_rate=40_000,
                subtitle=SubtitlePlan("srt"),
                fault=AUDIO_UNDECODABLE,
            ),
            AudioPlan(
                "jonah_side_c.mp3",
                "mp3",
                24_000,
                30,
                bit_rate=40_000,
                subtitle=SubtitlePlan("srt"),
                fault=AUDIO_MISSING,
            ),
        ),
    ),  # fmt: skip
    ItemPlan(
        identifier="titus-study-series",
        title="Titus study series, sessions 1-2",
        creator="Northgate Study Group",
        license_url="http://creativecommons.org/licenses/by-sa/4.0/legalcode",
        expected_license="cc-by-sa",
        item_reject=None,
        language="eng",
        date="2016-02",
        book="Tit",
        sentence_range=(0, 62),
        voices=(flite_voice("awb", 110, 120),),
        files=(
            AudioPlan(
                "titus_session1.ogg",
                "ogg",
                32_000,
                160,
                subtitle=SubtitlePlan("vtt", offset_ms=1000, drift_ms=-2000, music=True),
            ),
            AudioPlan(
                "titus_session2.ogg",
                "ogg",
                32_000,
                30,
                subtitle=SubtitlePlan("vtt"),
                fault=AUDIO_EMPTY,
            ),
        ),
    ),  # fmt: skip
    ItemPlan(
        identifier="joel_lectures_2011",
        title="Joel: three short lectures",
        creator="Westbrook Lecture Series",
        license_url="http://creativecommons.org/publicdomain/zero/1.0/",
        expected_license="cc0",
        item_reject=None,
        language="eng",
        date="2011",
        book="Joe",
        sentence_range=(0, 147),
        voices=(espeak_voice("en-029", 160, 40),),
        files=(
            AudioPlan(
                "joel_lecture_a.mp3",
                "mp3",
                16_000,
                150,
                bit_rate=32_000,
                subtitle=SubtitlePlan("srt", offset_ms=-1500, html=True, sounds=True),
            ),
            AudioPlan(
                "joel_lecture_b.mp3",
                "mp3",
                16_000,
                45,
                bit_rate=32_000,
                subtitle=SubtitlePlan("srt", fault=SUBTITLE_EMPTY),
            ),
            AudioPlan(
                "joel_lecture_c.mp3",
                "mp3",
                16_000,
                45,
                bit_rate=32_000,
                subtitle=SubtitlePlan("srt", fault=SUBTITLE_UNPARSABLE),
            ),
        ),
    ),  # fmt: skip
    ItemPlan(
        identifier="john-gospel-readings-part2",
        title="The Gospel of John, read aloud: part 2",
        creator="Oak Hill Reading Circle",
        license_url="https://creativecommons.org/publicdomain/mark/1.0/",
        expected_license="public-domain",
        item_reject=None,
        language="eng",
        date="2014-04-06",
        book="Joh",
        sentence_range=(200, 320),
        voices=(espeak_voice("en-us", 180, 55), flite_voice("slt", 95, 190)),
        files=(
            AudioPlan(
                "john_part2.mp3",
                "mp3",
                32_000,
                150,
                bit_rate=40_000,
                subtitle=SubtitlePlan(
                    "vtt", drift_ms=3000, music=True, speaker_labels="chevron", html=True
                ),
            ),
        ),
    ),  # fmt: skip
    # ------------------------------------------------ refused for their license
    ItemPlan(
        identifier="sunday-broadcast-john-excerpt",
        title="Sunday broadcast: John excerpt",
        creator="KXRA Community Radio",
        license_url="https://creativecommons.org/licenses/by-nc/4.0/",
        expected_license=None,
        item_reject="license:cc-by-nc",
        language="eng",
        date="2018-12-23",
        book="Joh",
        sentence_range=(320, 380),
        voices=(espeak_voice("en-gb+m2", 155, 50),),
        files=(
            AudioPlan(
                "broadcast.mp3",
                "mp3",
                22_050,
                60,
                bit_rate=32_000,
                subtitle=SubtitlePlan("srt", offset_ms=1200),
            ),
        ),
    ),  # fmt: skip
    ItemPlan(
        identifier="revelation_dramatized_nd",
        title="Revelation, dramatized (excerpt)",
        creator="Stage Nine Players",
        license_url="http://creativecommons.org/licenses/by-nd/3.0/",
        expected_license=None,
        item_reject="license:cc-by-nd",
        language="eng",
        date="2013-07-01",
        book="Rev",
        sentence_range=(400, 460),
        voices=(flite_voice("kal16", 100, 120),),
        files=(
            AudioPlan(
                "dramatized.ogg", "ogg", 16_000, 60, subtitle=SubtitlePlan("vtt", drift_ms=1500)
            ),
        ),
    ),  # fmt: skip
    ItemPlan(
        identifier="john_reading_unlabeled",
        title="john reading",
        creator="unknown",
        license_url=None,
        expected_license=None,
        item_reject="license:missing",
        language="eng",
        date="2010",
        book="Joh",
        sentence_range=(380, 440),
        voices=(espeak_voice("en-us+m4", 150, 30),),
        files=(
            AudioPlan(
                "john_reading.mp3",
                "mp3",
                11_025,
                60,
                bit_rate=24_000,
                subtitle=SubtitlePlan("srt", offset_ms=-1000),
            ),
        ),
    ),  # fmt: skip
    ItemPlan(
        identifier="studio-session-john-arr",
        title="Studio session: John (promotional copy)",
        creator="Bright Field Media LLC",
        license_url="http://rightsstatements.org/vocab/InC/1.0/",
        expected_license=None,
        item_reject="license:all-rights-reserved",
        language="eng",
        date="2020-05-05",
        book="Joh",
        sentence_range=(440, 500),
        voices=(flite_voice("slt", 90, 160),),
        rights="\u00a9 2020 Bright Field Media LLC. All rights reserved.",
        files=(
            AudioPlan(
                "studio_session.mp3",
                "mp3",
                22_050,
                60,
                bit_rate=32_000,
                subtitle=SubtitlePlan("srt", drift_ms=2000),
            ),
        ),
    ),  # fmt: skip
)
