"""The whole pipeline with a random-weight wav2vec2 checkpoint: no file lost to frame counts.

A wav2vec2 conv stack gives ``floor((n - 400) / 320) + 1`` frames for ``n``
samples, up to two short of ``ceil(n / 320)``: before the model declared its
frame timing, a file whose last window was short lost every cue. Random
weights align nothing, so the gates are loosened; what is checked is that
every file the own-model run releases is released here too, and that the
model's frame arithmetic is transformers' own.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from rich.console import Console

from galvasr.config import load_config
from galvasr.pipeline import run_pipeline
from tests.model.hf_tiny import save_tiny
from tests.run_fixtures import RUN_SETTINGS

pytestmark = pytest.mark.slow

# wav2vec2-base's conv stack (400-sample frames every 320 samples), made narrow.
BASE_CONV = {
    "conv_dim": (16,) * 7,
    "conv_kernel": (10, 3, 3, 3, 3, 2, 2),
    "conv_stride": (5, 2, 2, 2, 2, 2, 2),
}
LOOSE = {
    "align": {"llr_gate": False, "max_cue_cer": 1.0, "max_segment_cer": 1.0},
    "release": {"dirty_max_cer": 1.0},
}


@pytest.fixture(scope="module")
def w2v2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("w2v2") / "tiny-w2v2", **BASE_CONV)


def test_frame_counts_are_transformers_own(w2v2: Path) -> None:
    import transformers

    from galvasr.model import load_model

    info = load_model(w2v2).info
    reference = transformers.Wav2Vec2ForCTC.from_pretrained(w2v2)
    assert info.frame_stride_samples == 320 and info.frame_receptive_samples == 400
    for n in [400, 401, 479, 480, 640, 16_000, 16_079, 16_080, 544_000, 544_017]:
        expected = int(reference._get_feat_extract_output_lengths(n))
        assert info.num_frames(n) == expected, n
        assert 0 <= -(-n // 320) - expected <= info.max_missing_frames


def _released_audio_ids(root: Path) -> set[int]:
    ids: set[int] = set()
    for path in (root / "release").rglob("*.parquet"):
        ids |= set(pq.read_table(path, columns=["audio_id"]).column("audio_id").to_pylist())
    return ids


def test_a_random_wav2vec2_releases_every_file_the_own_model_releases(
    w2v2: Path, mini_corpus: Path, mini_run: Path, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    settings = {**RUN_SETTINGS, **LOOSE, "infer": {**RUN_SETTINGS["infer"], "model": ""}}
    summaries = run_pipeline(
        mini_corpus, root, Console(quiet=True), config=load_config(None, settings), model=str(w2v2)
    )
    assert summaries["infer"]["model_version"].startswith("wav2vec2-")
    rejects = pq.read_table(root / "rejects").to_pylist()
    frame_losses = [r for r in rejects if str(r["reason"]).startswith("logits:")]
    assert frame_losses == [], json.dumps(frame_losses[:3], default=str)
    own = _released_audio_ids(mini_run)
    assert own and own <= _released_audio_ids(root)
