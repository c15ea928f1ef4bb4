"""How well a recognizer trained on real speech hears ../shared/realspeech: PocketSphinx.

    pip install --no-deps --target /tmp/ps pocketsphinx==5.1.1
    PYTHONPATH=/tmp/ps .venv/bin/python \\
        models/galvasr-small/experiments/pocketsphinx/recognizer_cer.py --out recognizer_cer.json

PocketSphinx 5.1.1 (BSD-2-Clause) with the en-us acoustic model, dictionary and
trigram language model its wheel ships (Alpha Cephei, BSD-style), default
settings. References and hypotheses go through galvasr's one normalizer, as in
``benchmarks/model_realspeech.py``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import jiwer
import numpy as np

REPO = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(REPO))

from galvasr.decode.audio import decode_pcm16k  # noqa: E402
from galvasr.model import DEFAULT_MODEL, load_model  # noqa: E402

MARKUP = re.compile(r"\[[^\]]*\]|<[^>]*>")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--realspeech", type=Path, default=REPO.parent / "shared" / "realspeech")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    from pocketsphinx import Decoder

    vocab = load_model(DEFAULT_MODEL).info.vocab
    decoder = Decoder(loglevel="ERROR")
    refs: list[str] = []
    hyps: list[str] = []
    by_source: dict[str, tuple[list[str], list[str]]] = {}
    cpu0, audio_s = time.process_time(), 0.0
    for line in (args.realspeech / "manifest.jsonl").read_text().splitlines():
        item = json.loads(line)
        pcm = np.concatenate(list(decode_pcm16k(args.realspeech / item["file"])))
        audio_s += len(pcm) / 16_000
        decoder.start_utt()
        decoder.process_raw(pcm.astype(np.int16).tobytes(), full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp().hypstr if decoder.hyp() else ""
        ref = vocab.normalize(MARKUP.sub(" ", item["transcript"]))
        ref, hyp = (vocab.normalize(t).replace(vocab.word_separator, " ") for t in (ref, hyp))
        refs.append(ref)
        hyps.append(hyp)
        source = item["file"].split("/")[0]
        by_source.setdefault(source, ([], []))[0].append(ref)
        by_source[source][1].append(hyp)
    result = {
        "what": "PocketSphinx 5.1.1 en-us with its LM: word decoding of every realspeech file",
        "files": len(refs),
        "audio_s": round(audio_s, 1),
        "cpu_s": round(time.process_time() - cpu0, 1),
        "cer": round(jiwer.cer(refs, hyps), 4),
        "wer": round(jiwer.wer(refs, hyps), 4),
        "by_source": {
            k: {"cer": round(jiwer.cer(r, h), 4), "wer": round(jiwer.wer(r, h), 4)}
            for k, (r, h) in sorted(by_source.items())
        },
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
