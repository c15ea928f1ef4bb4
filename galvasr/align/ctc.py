"""Where each cue of a file is spoken: ctc-segmentation over stitched log-probabilities.

``align_cues`` takes a file's ``[frames, vocab]`` log-probabilities and its
cues and returns one ``AlignedCue`` per cue it could place (with a start,
an end, a confidence score and the CER of a greedy decode of the span) and
a ``CueReject`` for every cue it could not.

Bounded memory. ctc-segmentation fills a table of frames x label float32.
For a three-hour file aligned in one call that is 540,000 frames x ~150,000
labels: far too big. So cues are aligned in *pieces* of consecutive cues
spanning at most ``piece_max_s`` of subtitle time. A piece is searched in
the frames of its subtitle times +- ``margin_s``, shifted by the drift
(median aligned-minus-subtitle start) measured on the previous piece, and
never before the end of the previous piece's last well-aligned cue, so the
cues stay in order and drift of any size is followed. Audio in the window
before the first and after the last cue is free (ctc-segmentation's
preamble), so the margins cost nothing but time. A piece whose table would
exceed ``max_table_mb`` is split in two; a single cue that still would is
rejected. With the defaults a table is ~3,500 x ~1,300 x 4 B = 18 MB.

Boundaries. The Viterbi path gives the frame at which each label is first
entered. CTC emits a character as a spike of a frame or a few, and the
blanks around it are ambiguous in time, so a cue starts on the first frame
of its first character's spike and ends after the last frame of its last
character's spike (the frames next to the entry frame on which that
character is more likely than the blank). Frame ``f`` starts at
sample ``f * frame_stride_samples``. ``pad_before_ms``/``pad_after_ms``
widen each cue, never past the middle of the pause to its neighbour.
Then, where the audio has a clear pause around a cue, ``snap_to_audio``
moves both ends to where the sound starts and stops (CTC's end is the
least sure: the last letter's spike can come 0.1 to 0.4 s before the
speech ends).

Score: as ctc-segmentation's, the minimum over windows of
``score_window_frames`` frames of the mean log-probability along the path
(the whole span if shorter). A cue is *good* if its score is at least
``min_cue_score`` and its CER at most ``max_cue_cer``; only good cues may
enter segments.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jiwer
import numpy as np
from ctc_segmentation.ctc_segmentation_dyn import cython_fill_table

from galvasr.align import gates
from galvasr.config import AlignConfig
from galvasr.model.contract import FrameClock
from galvasr.model.greedy import greedy_decode
from galvasr.model.vocab import Vocabulary

logging.getLogger("ctc_segmentation").setLevel(logging.WARNING)

_NO_PATH = np.float32(-1e10)
_FLAGS = 1 | 2  # ctc-segmentation: blank_transition_cost_zero | preamble_transition_cost_zero


@dataclass(frozen=True)
class Cue:
    """A subtitle cue as the aligner needs it (from a ``transcripts`` row)."""

    cue_index: int
    start_ms: int
    end_ms: int
    text: str  # cleaned text, as a reader sees it
    text_raw: str = ""


@dataclass(frozen=True)
class AlignedCue:
    cue_index: int
    start_ms: int  # padded, in the file's time
    end_ms: int
    start_frame: int  # first frame of the first character
    end_frame: int  # one past the last frame of the last character
    score: float
    cer: float
    text: str
    text_raw: str
    text_normalized: str
    decoded: str
    subtitle_start_ms: int
    problem: str | None  # None for a good cue, else the reason it may not enter a segment
    gap_letters_after: int  # letters greedy-decoded between this cue and the next one
    words: tuple[AlignedWord, ...] = ()  # the words of text_normalized, in order
    llr: float = float("nan")  # gates.text_llr over the placed frames; NaN for an empty span


@dataclass(frozen=True)
class AlignedWord:
    """A word of a cue's normalized text, where the path put its letters.

    It starts on the first frame of its first letter's spike and ends after
    its last letter's spike(s), as a cue does (a cue's first word starts and
    its last word ends where the cue's letters do); no pads. Its score is the
    mean log-probability along the path over its frames.
    """

    word: str  # in the model's alphabet
    text: str | None  # as the cue's text writes it; None unless the two pair word for word
    start_frame: int
    end_frame: int  # one past its last frame
    start_ms: int  # start_frame's time in the file
    end_ms: int
    score: float


@dataclass(frozen=True)
class CueReject:
    cue_index: int
    reason: str
    detail: str


@dataclass
class _Prepared:
    cue: Cue
    normalized: str
    labels: np.ndarray  # label ids of the normalized text
    # Set on the copy _align_piece returns with a cue's span, for its words
    # (_finish): the frame each label was entered and the path's log-probability
    # on each frame of the span, both counted from the span's first frame.
    entered: np.ndarray | None = None
    path: np.ndarray | None = None


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate of ``hypothesis`` against a non-empty ``reference`` (jiwer)."""
    return float(jiwer.cer(reference, hypothesis)) if hypothesis else 1.0


def min_mean_score(path_logprobs: np.ndarray, window: int) -> float:
    """Minimum over ``window``-frame windows of the mean (the mean, if shorter)."""
    n = path_logprobs.shape[0]
    if n == 0:
        return float("-inf")
    if n <= window:
        return float(path_logprobs.mean())
    sums = np.concatenate([[0.0], np.cumsum(path_logprobs, dtype=np.float64)])
    return float(((sums[window:] - sums[:-window]) / window).min())


def align_cues(
    logprobs: np.ndarray,
    cues: Sequence[Cue],
    vocab: Vocabulary,
    clock: FrameClock,
    config: AlignConfig,
) -> tuple[list[AlignedCue], list[CueReject]]:
    """Align ``cues`` to a whole file's log-probabilities; results in time order."""
    rejects: list[CueReject] = []
    prepared: list[_Prepared] = []
    index = vocab.index
    for cue in sorted(cues, key=lambda c: (c.start_ms, c.end_ms, c.cue_index)):
        normalized = vocab.normalize(cue.text)
        if not normalized:
            rejects.append(CueReject(cue.cue_index, "align:no-speech-text", repr(cue.text)))
            continue
        labels = np.array([index[c] for c in normalized], dtype=np.int64)
        # CTC spends at least a frame per letter: a cue whose text cannot fit in its
        # own subtitle time plus both margins is refused alone, before it can take
        # the piece of good cues around it down with it.
        room_ms = cue.end_ms - cue.start_ms + 2000 * config.margin_s
        if labels.shape[0] > clock.frame(max(0.0, room_ms)) + 1:
            rejects.append(
                CueReject(
                    cue.cue_index,
                    "align:text-longer-than-audio",
                    f"{labels.shape[0]} letters in {room_ms / 1000:.1f} s",
                )
            )
            continue
        prepared.append(_Prepared(cue, normalized, labels))

    num_frames = logprobs.shape[0]
    spans: list[_Span] = []
    drift_ms = 0.0
    floor_frame = 0
    todo = _pieces(prepared, config)
    while todo:
        piece = todo.pop(0)
        first_ms = piece[0].cue.start_ms + drift_ms - 1000 * config.margin_s
        last_ms = max(p.cue.end_ms for p in piece) + drift_ms + 1000 * config.margin_s
        w0 = max(floor_frame, clock.frame(max(0.0, first_ms)))
        w1 = min(num_frames, clock.frame(last_ms) + 1)
        num_labels = sum(len(p.labels) + 1 for p in piece) + 2
        if w1 - w0 < num_labels:
            if w0 >= num_frames:
                rejects.extend(
                    _reject_all(piece, "align:outside-audio", "subtitle after the audio")
                )
                continue
            # Too little audio for the text: widen to what the file has after the floor.
            w1 = min(num_frames, w0 + 2 * num_labels + clock.frame(2000 * config.margin_s))
            if w1 - w0 < num_labels:
                rejects.extend(
                    _reject_all(piece, "align:text-longer-than-audio", f"{w1 - w0} frames")
                )
                continue
        if (w1 - w0) * num_labels * 4 > config.max_table_mb * 2**20:
            if len(piece) > 1:
                half = len(piece) // 2
                todo[:0] = [piece[:half], piece[half:]]
                continue
            rejects.extend(_reject_all(piece, "align:cue-too-long", f"{w1 - w0} frames"))
            continue
        placed = _align_passes(logprobs, w0, w1, piece, vocab, config)
        if placed is None:
            rejects.extend(_reject_all(piece, "align:backtrack-failed", f"frames {w0}-{w1}"))
            continue
        good = [s for s in placed if s.problem is None]
        spans.extend(placed)
        if good:
            floor_frame = max(floor_frame, max(s.end for s in good))
            drift_ms = float(np.median([clock.ms(s.start) - s.prep.cue.start_ms for s in good]))
    return _finish(logprobs, spans, vocab, clock, config), rejects


@dataclass
class _Span:
    prep: _Prepared
    start: int  # frames of the whole file
    end: int
    score: float
    decoded: str
    cer: float
    problem: str | None
    llr: float


def _pieces(prepared: list[_Prepared], config: AlignConfig) -> list[list[_Prepared]]:
    pieces: list[list[_Prepared]] = []
    for p in prepared:
        if pieces and p.cue.end_ms - pieces[-1][0].cue.start_ms <= 1000 * config.piece_max_s:
            pieces[-1].append(p)
        else:
            pieces.append([p])
    return pieces


def _reject_all(piece: list[_Prepared], reason: str, detail: str) -> list[CueReject]:
    return [CueReject(p.cue.cue_index, reason, detail) for p in piece]


def _align_passes(
    logprobs: np.ndarray,
    w0: int,
    w1: int,
    piece: list[_Prepared],
    vocab: Vocabulary,
    config: AlignConfig,
) -> list[_Span] | None:
    """Spans of a piece's cues, re-aligning without the badly aligned ones.

    A cue whose text is not spoken (a planted or mistimed subtitle) is still
    forced onto some frames, and takes characters its neighbours need. So a
    piece with bad cues is aligned again without them, until every cue left
    is good (at most ``max_passes`` times); a bad cue keeps the span it had
    when it was found bad.
    """
    lpz = np.ascontiguousarray(logprobs[w0:w1], dtype=np.float32)
    done: list[_Span] = []
    active = piece
    for n in range(config.max_passes):
        placed = _align_piece(lpz, active, vocab.blank_index, config)
        if placed is None:
            return None
        judged = [_judge(logprobs, p, s + w0, e + w0, score, vocab, config)
                  for p, s, e, score in placed]  # fmt: skip
        bad = [s for s in judged if s.problem is not None]
        if not bad or len(bad) == len(judged) or n + 1 == config.max_passes:
            return done + judged
        done.extend(bad)
        active = [s.prep for s in judged if s.problem is None]
    return done


def _align_piece(
    lpz: np.ndarray, piece: list[_Prepared], blank: int, config: AlignConfig
) -> list[tuple[_Prepared, int, int, float]] | None:
    """(cue, start frame, end frame, score) of each cue, frames relative to ``lpz``.

    None if there is no path (too few frames for the labels).
    """
    # Labels as ctc-segmentation's prepare_token_list builds them: a start
    # symbol, then a blank before every cue and one at the end.
    labels: list[int] = [-1]
    begins = []
    for p in piece:
        labels.append(blank)
        begins.append(len(labels) - 1)
        labels.extend(int(i) for i in p.labels)
    labels.append(blank)
    begins.append(len(labels) - 1)
    found = viterbi(lpz, np.array(labels, np.int64), blank)
    if found is None:
        return None
    entered, path_lp = found
    out = []
    previous_end = 0
    for k, p in enumerate(piece):
        first, nxt = begins[k] + 1, begins[k + 1]
        # Stays on the blank before a cue are free, so the path may enter the
        # first character on the last frame of its spike: go back to its start.
        start = int(entered[first])
        head = int(p.labels[0])
        before = lpz[previous_end:start][::-1]
        cold = np.flatnonzero(before[:, head] < before[:, blank])
        entry = start
        start -= int(cold[0]) if cold.size else before.shape[0]
        path_lp[start:entry] = lpz[start:entry, head]
        # The last character's spike(s). ctc-segmentation's topology lets a
        # repeated letter ("all") be entered twice within one spike, leaving
        # the second spike to the free blank after the cue; so count spikes
        # from the first of the trailing repeats, up to where the next cue
        # starts.
        last = int(p.labels[-1])
        repeats = len(p.labels) - len(np.trim_zeros(p.labels - last, "b"))
        limit = int(entered[nxt + 1]) if nxt + 1 < len(labels) else lpz.shape[0]
        end = _spikes_end(lpz, last, blank, int(entered[nxt - repeats]), repeats, limit)
        score = min_mean_score(path_lp[start:end], config.score_window_frames)
        timed = dataclasses.replace(
            p, entered=entered[first:nxt] - start, path=path_lp[start:end].copy()
        )
        out.append((timed, start, end, score))
        previous_end = end
    return out


def _spikes_end(
    lpz: np.ndarray,
    label: int,
    blank: int,
    start: int,
    count: int,
    limit: int,
    rival: int | None = None,
) -> int:
    """One past the ``count``-th run of frames from ``start`` where ``label`` beats the blank.

    The first run starts at ``start`` (the label was entered there); if fewer
    than ``count`` runs fit before ``limit``, the end of the last one found.
    With a ``rival`` (the word separator after a word's last letter), ``label``
    must beat it too.
    """
    hot = lpz[start:limit, label] >= lpz[start:limit, blank]
    if rival is not None:
        hot &= lpz[start:limit, label] >= lpz[start:limit, rival]
    hot[0] = True
    edges = np.flatnonzero(np.diff(np.concatenate([hot, [False]]).astype(np.int8)) == -1)
    return start + 1 + int(edges[min(count, edges.size) - 1])


def viterbi(
    lpz: np.ndarray, labels: np.ndarray, blank: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """(frame each label is entered, log-probability along the path per frame), or None.

    ``labels[0]`` is the start symbol (-1). The table is filled by
    ctc-segmentation's ``cython_fill_table`` over the whole of ``lpz`` (no
    sliding window) with its two flags set: frames before the first label
    and stays on the blanks between cues are free, so unsubtitled audio
    between cues (music, untranscribed speech) costs nothing instead of
    pulling neighbouring cues onto it. ctc-segmentation's own backtracking
    assumes those stays cost the blank's log-probability, so the path is
    traced back here with the costs the table was filled with.
    """
    frames, num_labels = lpz.shape[0], labels.shape[0]
    if frames < num_labels:
        return None
    lpz = np.ascontiguousarray(lpz, dtype=np.float32)
    table = np.full((frames, num_labels), _NO_PATH, dtype=np.float32)
    offsets = np.zeros(num_labels, dtype=np.int64)
    cython_fill_table(table, lpz, labels[:, None], offsets, blank, _FLAGS)
    t = int(table[:, -1].argmax())
    if table[t, -1] <= _NO_PATH / 2:
        return None
    entered = np.zeros(num_labels, dtype=np.int64)
    path_lp = np.zeros(frames, dtype=np.float32)
    c = num_labels - 1
    tab = table.tolist() if frames * num_labels <= 1 << 16 else table
    while t > 0:
        label = int(labels[c])
        here = lpz[t]
        if c == 0:
            stay, switch = 0.0, None
        else:
            switch = float(here[label])
            stay = 0.0 if label == blank else max(float(here[blank]), switch)
        if switch is not None:
            d_switch = abs(tab[t][c] - tab[t - 1][c - 1] - switch)
            d_stay = abs(tab[t][c] - tab[t - 1][c] - stay)
            if d_switch < d_stay:
                entered[c] = t
                path_lp[t] = switch
                c -= 1
                t -= 1
                continue
        path_lp[t] = float(here[blank]) if label in (blank, -1) else stay
        t -= 1
    entered[: c + 1] = 0
    return entered, path_lp


def _judge(
    logprobs: np.ndarray,
    prep: _Prepared,
    start: int,
    end: int,
    score: float,
    vocab: Vocabulary,
    config: AlignConfig,
) -> _Span:
    decoded = greedy_decode(logprobs[start:end], vocab)
    error = cer(prep.normalized.replace(vocab.word_separator, " "), decoded)
    # Every placed cue gets its ratio, gate or not: release and adapt read it.
    llr = float("nan")
    if end > start:
        span = logprobs[max(0, start - 2) : end + 1]  # see gates.text_llr
        llr = gates.text_llr(span, prep.labels, vocab.blank_index)
    problem = None
    if end <= start:
        problem = "align:empty-span"
    elif score < config.min_cue_score:
        problem = "align:low-score"
    elif error > config.max_cue_cer:
        problem = "align:high-cer"
    elif config.llr_gate and llr < gates.chance_llr(vocab.num_letters) + config.llr_above_chance:
        problem = "align:not-heard"
    return _Span(prep, start, end, score, decoded, error, problem, llr)


def _finish(
    logprobs: np.ndarray,
    spans: list[_Span],
    vocab: Vocabulary,
    clock: FrameClock,
    config: AlignConfig,
) -> list[AlignedCue]:
    """Padded times and the letters in each pause; pauses are between good cues."""
    spans = sorted(spans, key=lambda s: (s.start, s.end, s.prep.cue.cue_index))
    good = [s for s in spans if s.problem is None]
    before = {id(b): a for a, b in zip(good, good[1:], strict=False)}
    after = {id(a): b for a, b in zip(good, good[1:], strict=False)}
    duration_ms = clock.ms(logprobs.shape[0])
    out = []
    for s in spans:
        start_ms = clock.ms(s.start) - config.pad_before_ms
        end_ms = clock.ms(s.end) + config.pad_after_ms
        gap_letters = 0
        if id(s) in before:
            start_ms = max(start_ms, clock.ms(before[id(s)].end + s.start) / 2)
        if id(s) in after:
            nxt = after[id(s)].start
            end_ms = min(end_ms, clock.ms(s.end + nxt) / 2)
            gap = greedy_decode(logprobs[s.end : nxt], vocab) if nxt > s.end else ""
            gap_letters = len(gap.replace(" ", ""))
        out.append(
            AlignedCue(
                cue_index=s.prep.cue.cue_index,
                start_ms=int(round(max(0.0, start_ms))),
                end_ms=int(round(min(duration_ms, end_ms))),
                start_frame=s.start,
                end_frame=s.end,
                score=s.score,
                cer=s.cer,
                text=s.prep.cue.text,
                text_raw=s.prep.cue.text_raw,
                text_normalized=s.prep.normalized,
                decoded=s.decoded,
                subtitle_start_ms=s.prep.cue.start_ms,
                problem=s.problem,
                gap_letters_after=gap_letters,
                words=_words(logprobs, s, vocab, clock),
                llr=s.llr,
            )
        )
    return out


def _words(
    logprobs: np.ndarray, span: _Span, vocab: Vocabulary, clock: FrameClock
) -> tuple[AlignedWord, ...]:
    """The words of a cue's span, from the path's letters (see ``AlignedWord``).

    A word starts where its first letter was entered, moved back over the
    frames before it on which that letter beats both the blank and the word
    separator (never into the previous word); it ends after its last
    letter's spike(s), counted as for a cue's end, up to the next word's
    first letter, on frames where the letter beats the blank and the
    separator. The frames a word takes from the path's separator count with
    its letter's log-probability in its score, as a cue's first frames do.
    () if the path was not kept (a span made without ``_align_piece``).
    """
    prep = span.prep
    n = span.end - span.start
    if prep.entered is None or prep.path is None or n <= 0 or prep.path.shape[0] != n:
        return ()
    labels: list[int] = prep.labels.tolist()
    blank, sep = vocab.blank_index, vocab.index[vocab.word_separator]
    entered: list[int] = (span.start + prep.entered).tolist()  # in the file's frames
    path = prep.path.astype(np.float64)  # from span.start
    ranges, first = [], 0  # [first, last) letter positions of each word
    for k in range(len(labels) + 1):
        if k == len(labels) or labels[k] == sep:
            if k > first:
                ranges.append((first, k))
            first = k + 1
    names = [prep.normalized[a:b] for a, b in ranges]
    texts = _word_texts(prep.cue.text, names, vocab)
    out = []
    floor = span.start
    for w, (a, b) in enumerate(ranges):
        start = span.start
        if w:
            entry = start = entered[a]
            head, previous = labels[a], labels[a - 1]
            while start > floor:
                row = logprobs[start - 1]
                if row[head] < row[blank] or row[head] < row[previous]:
                    break
                start -= 1
            path[start - span.start : entry - span.start] = logprobs[start:entry, head]
        end = span.end
        if w + 1 < len(ranges):
            last = labels[b - 1]
            repeats = 1
            while repeats < b - a and labels[b - 1 - repeats] == last:
                repeats += 1
            limit = entered[ranges[w + 1][0]]
            end = _spikes_end(logprobs, last, blank, entered[b - repeats], repeats, limit, sep)
            after = entered[b]  # the separator may be entered inside the letter's spike
            path[after - span.start : end - span.start] = logprobs[after:end, last]
        score = float(path[start - span.start : end - span.start].mean())
        out.append(
            AlignedWord(
                word=names[w],
                text=texts[w],
                start_frame=start,
                end_frame=end,
                start_ms=int(round(clock.ms(start))),
                end_ms=int(round(clock.ms(end))),
                score=score,
            )
        )
        floor = end
    return tuple(out)


def _word_texts(text: str, words: list[str], vocab: Vocabulary) -> list[str | None]:
    """The cue text's words paired with the normalized ``words``, or all None.

    They pair when the text has as many whitespace-separated words and each
    one normalizes to its normalized word ("Hello," -> "hello"; "42" -> "forty
    two" does not pair, nor does a lone "-").
    """
    tokens = text.split()
    if len(tokens) != len(words) or any(
        vocab.normalize(t) != w for t, w in zip(tokens, words, strict=True)
    ):
        return [None] * len(words)
    return list(tokens)


# ------------------------------------------------- boundaries from the audio

ENERGY_FRAME_MS = 10


def frame_energy_db(pcm: np.ndarray, frame_samples: int) -> np.ndarray:
    """Energy of each whole ``frame_samples`` frame of int16 PCM, in dB (0 dB: digital silence).

    Pre-emphasised first, so a quiet fricative (the ``s`` of "so") weighs as
    much as the vowel after it.
    """
    x = pcm.astype(np.float32)
    if x.size > 1:
        x[1:] -= 0.97 * x[:-1].copy()
    n = x.size // frame_samples
    frames = x[: n * frame_samples].reshape(n, frame_samples)
    result: np.ndarray = 10.0 * np.log10(np.mean(frames * frames, axis=1) + 1.0)
    return result


def _last_silence_end(quiet: np.ndarray, run: int) -> int | None:
    """Index just past the last run of at least ``run`` quiet frames, or None."""
    first = _first_silence_start(quiet[::-1], run)
    return None if first is None else len(quiet) - first


def _first_silence_start(quiet: np.ndarray, run: int) -> int | None:
    """Index of the first frame of the first run of at least ``run`` quiet frames, or None."""
    count = 0
    for i, q in enumerate(quiet):
        count = count + 1 if q else 0
        if count >= run:
            return i - run + 1
    return None


def snap_to_audio(
    aligned: Sequence[AlignedCue],
    pcm_slice: Callable[[int, int], np.ndarray],
    clock: FrameClock,
    config: AlignConfig,
) -> list[AlignedCue]:
    """Good cues' padded times moved to where the audio says their speech starts and ends.

    CTC puts a cue's first letter a little after its speech starts and its
    last letter well before it ends, by an amount that varies. Where the
    pause around a cue is clearly quieter than the cue
    (``snap_min_snr_db``), the start moves to the onset of the sound that
    leads into the first letter and the end to the first silence
    (``snap_silence_ms``) after the last letter, each searched at most
    ``snap_search_ms`` out and never past a neighbouring cue's letters, then
    padded by ``snap_pad_ms`` (two cues either side of one silence share
    it). Elsewhere (noise, music, no pause) the CTC times and fixed pads
    stay. ``pcm_slice(a, b)`` returns the file's int16 samples ``a:b``.
    """
    rate = clock.sample_rate
    hop = rate * ENERGY_FRAME_MS // 1000
    per_ms = rate / 1000.0
    run = max(1, config.snap_silence_ms // ENERGY_FRAME_MS)
    good = [a for a in aligned if a.problem is None]
    out: dict[int, AlignedCue] = {}
    for i, a in enumerate(good):
        char_start, char_end = clock.ms(a.start_frame), clock.ms(a.end_frame)
        prev_end = clock.ms(good[i - 1].end_frame) if i else None
        next_start = clock.ms(good[i + 1].start_frame) if i + 1 < len(good) else None
        # Up to the neighbours' letters, not to the middle of the pause: CTC
        # can end a cue's letters a third of a second before its speech ends.
        lo = char_start - config.snap_search_ms
        if prev_end is not None:
            lo = max(lo, prev_end)
        hi = char_end + config.snap_search_ms
        if next_start is not None:
            hi = min(hi, next_start)
        lo = max(0.0, lo)
        first = int(lo * per_ms) // hop * hop  # whole energy frames from here
        energy = frame_energy_db(pcm_slice(first, int(hi * per_ms)), hop)
        if energy.size == 0:
            continue
        t_ms = first / per_ms + ENERGY_FRAME_MS * np.arange(energy.size)  # frame start times
        inside = (t_ms >= char_start) & (t_ms < char_end)
        outside = ~inside & ((t_ms < char_start - 60) | (t_ms >= char_end + 60))
        if inside.sum() < 3 or outside.sum() < run:
            continue
        speech = float(np.percentile(energy[inside], 90))
        floor = float(np.percentile(energy[outside], 10))
        if speech - floor < config.snap_min_snr_db:
            continue
        quiet = energy < max(floor + 0.5 * config.snap_min_snr_db, speech - config.snap_range_db)
        # Start: the end of the last silent run before the first letter.
        onset_i = _last_silence_end(quiet[t_ms < char_start + ENERGY_FRAME_MS], run)
        # End: the start of the first silent run after the last letter.
        after_from = int(np.searchsorted(t_ms, char_end - ENERGY_FRAME_MS))
        offset_i = _first_silence_start(quiet[after_from:], run)
        start_ms, end_ms = float(a.start_ms), float(a.end_ms)
        if onset_i is not None:
            onset_ms = float(t_ms[onset_i]) if onset_i < t_ms.size else char_start
            start_ms = max(lo, min(onset_ms, char_start) - config.snap_pad_ms)
        if offset_i is not None:
            offset_ms = float(t_ms[after_from + offset_i])
            end_ms = min(hi, max(offset_ms, char_end) + config.snap_pad_ms)
        out[id(a)] = dataclasses.replace(
            a, start_ms=int(round(start_ms)), end_ms=int(round(end_ms))
        )
    return [out.get(id(a), a) for a in aligned]
