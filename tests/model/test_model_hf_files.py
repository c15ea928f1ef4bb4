"""The Hugging Face loader's reading of a folder: version, processor settings, special tokens."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from galvasr.model import CheckpointError, greedy_decode, load_model

torch = pytest.importorskip(
    "torch", reason="these tests need torch: pip install -e '.[test]' (torch==2.13.0 CPU)"
)
transformers = pytest.importorskip("transformers", reason="these tests need transformers")

from tests.model.hf_tiny import VOCAB, audio, save_tiny, transformers_logprobs  # noqa: E402


def _version(folder: Path) -> str:
    return load_model(folder).info.model_version


def _edit_json(path: Path, **changes: object) -> None:
    raw = json.loads(path.read_text())
    raw.update(changes)
    path.write_text(json.dumps(raw))


def test_version_hashes_every_file_the_outputs_depend_on(tmp_path: Path) -> None:
    folder = save_tiny(tmp_path / "w2v")
    version = _version(folder)
    assert re.fullmatch(r"wav2vec2-[0-9a-f]{8}", version)

    # A copy under another name, with its JSON laid out differently, is the same model.
    copy = tmp_path / "elsewhere" / "renamed"
    shutil.copytree(folder, copy)
    for name in ("config.json", "vocab.json"):
        raw = json.loads((copy / name).read_text())
        (copy / name).write_text(json.dumps(dict(reversed(list(raw.items()))), indent=4))
    assert _version(copy) == version

    seen = {version}

    def changed(name: str, **changes: object) -> None:
        original = (copy / name).read_text()
        _edit_json(copy / name, **changes)
        new = _version(copy)
        assert new not in seen, f"{name} {changes} kept the version"
        seen.add(new)
        (copy / name).write_text(original)
        assert _version(copy) == version

    changed("config.json", hidden_act="relu")
    changed("config.json", layer_norm_eps=1e-6)
    changed("vocab.json", E=6, T=5)  # two symbols swap columns
    changed("preprocessor_config.json", do_normalize=False)
    changed("preprocessor_config.json", return_attention_mask=True)
    (copy / "tokenizer_config.json").write_text(json.dumps({"unk_token": "<unk>"}))
    assert _version(copy) not in seen  # a tokenizer file appears

    from safetensors.numpy import load_file, save_file

    tensors = load_file(str(folder / "model.safetensors"))
    tensors["lm_head.bias"] = tensors["lm_head.bias"] + np.float32(1e-3)
    save_file(tensors, str(folder / "model.safetensors"))
    assert _version(folder) not in seen


@pytest.mark.parametrize("do_normalize", [True, False])
def test_do_normalize_is_honoured(tmp_path: Path, do_normalize: bool) -> None:
    processor = {"sampling_rate": 16000, "do_normalize": do_normalize}
    folder = save_tiny(tmp_path / "w2v", processor=processor)
    signal = audio(8000) * 0.2  # far from unit variance, so normalising matters
    (want,) = transformers_logprobs(folder, [signal], do_normalize=do_normalize)
    (other,) = transformers_logprobs(folder, [signal], do_normalize=not do_normalize)
    got = load_model(folder).logprobs(signal)
    print(f"do_normalize={do_normalize}: max abs difference {np.abs(got - want).max():.2e}")
    assert np.abs(got - want).max() <= 1e-4
    assert np.abs(got - other).max() > 1e-2


def test_processor_config_json_of_transformers_5(tmp_path: Path) -> None:
    """transformers 5's ``processor.save_pretrained`` nests the settings: feature_extractor."""
    folder = save_tiny(tmp_path / "w2v")
    (folder / "preprocessor_config.json").unlink()
    extractor = transformers.Wav2Vec2FeatureExtractor(
        sampling_rate=16000, do_normalize=False, return_attention_mask=True
    )
    tokenizer = transformers.Wav2Vec2CTCTokenizer(str(folder / "vocab.json"))
    transformers.Wav2Vec2Processor(
        feature_extractor=extractor, tokenizer=tokenizer
    ).save_pretrained(folder)
    nested = json.loads((folder / "processor_config.json").read_text())
    if "feature_extractor" not in nested:  # transformers 4 writes preprocessor_config.json
        pytest.skip("this transformers writes no nested processor_config.json")

    rows = [audio(8000), audio(5000, seed=2)]
    want = transformers_logprobs(folder, rows, do_normalize=False, attention_mask=True)
    model = load_model(folder)
    padded = np.zeros((2, 8000), np.float32)
    padded[0], padded[1, :5000] = rows
    lp, frames = model(padded, np.array([8000, 5000]))
    for i in range(2):
        diff = np.abs(np.asarray(lp[i, : int(frames[i])]) - want[i]).max()
        print(f"processor_config.json row {i}: max abs difference {diff:.2e}")
        assert diff <= 1e-4


def test_sampling_rate_other_than_16k_is_refused_in_one_line(tmp_path: Path) -> None:
    folder = save_tiny(tmp_path / "w2v", processor={"sampling_rate": 8000})
    for rate in (16000, None):
        with pytest.raises(CheckpointError) as e:
            load_model(folder, sample_rate=rate)
        assert str(e.value) == (
            f"{folder}: the model takes 8000 Hz audio (sampling_rate in "
            "preprocessor_config.json); galvasr feeds 16000 Hz only"
        )

    (folder / "preprocessor_config.json").write_text(json.dumps({"do_normalize": True}))
    (folder / "processor_config.json").write_text(
        json.dumps({"feature_extractor": {"do_normalize": False}})
    )
    with pytest.raises(CheckpointError, match="do_normalize is True in preprocessor_config.json"):
        load_model(folder)


def test_return_attention_mask_is_honoured(tmp_path: Path) -> None:
    rows = [audio(8000), audio(4000, seed=3)]
    padded = np.zeros((2, 8000), np.float32)
    padded[0], padded[1, :4000] = rows
    results = []
    for mask in (True, False):
        processor = {"sampling_rate": 16000, "return_attention_mask": mask}
        folder = save_tiny(tmp_path / f"mask-{mask}", processor=processor)
        want = transformers_logprobs(folder, rows, attention_mask=mask)[1]
        lp, frames = load_model(folder)(padded, np.array([8000, 4000]))
        got = np.asarray(lp[1, : int(frames[1])])
        assert np.abs(got - want).max() <= 1e-4
        results.append(got)
    assert np.abs(results[0] - results[1]).max() > 1e-3


SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")


def test_special_tokens_are_found(tmp_path: Path) -> None:
    from galvasr.model.hf.files import read_vocab

    folder = save_tiny(tmp_path / "w2v")
    transformers.Wav2Vec2CTCTokenizer(str(folder / "vocab.json")).save_pretrained(folder)
    v = read_vocab(folder, lang=None)
    assert [v.symbols[i] for i in v.special_indices] == list(SPECIALS)
    assert v.word_separator == "|"

    # Named in the tokenizer config, or shaped like one, even if not the usual names.
    vocab = {s: i for i, s in enumerate([*VOCAB, "[UNK]", "<noise>"])}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    _edit_json(folder / "tokenizer_config.json", unk_token="[UNK]", pad_token="<pad>")
    v = read_vocab(folder, lang=None)
    assert [v.symbols[i] for i in v.special_indices] == [*SPECIALS, "[UNK]", "<noise>"]


def test_special_tokens_never_reach_greedy_text(tmp_path: Path) -> None:
    model = load_model(save_tiny(tmp_path / "w2v"))
    vocab = model.info.vocab
    path = ["E", "<unk>", "T", "<s>", "|", "A", "</s>", "<pad>", "A"]
    lp = np.full((len(path), len(vocab)), -20.0, np.float32)
    for t, s in enumerate(path):
        lp[t, vocab.index[s]] = 0.0
    assert greedy_decode(lp, vocab) == "ET AA"
    assert "<" not in vocab.decode(list(range(len(vocab))))


def test_sharded_checkpoint_loads_like_one_file(tmp_path: Path) -> None:
    folder = save_tiny(tmp_path / "one")
    sharded = tmp_path / "sharded"
    shutil.copytree(folder, sharded)
    (sharded / "model.safetensors").unlink()
    model = transformers.Wav2Vec2ForCTC.from_pretrained(folder)
    model.save_pretrained(sharded, safe_serialization=True, max_shard_size="20KB")
    assert (sharded / "model.safetensors.index.json").is_file()
    assert not (sharded / "model.safetensors").exists()
    signal = audio(6000)
    want = load_model(folder).logprobs(signal)
    assert np.array_equal(load_model(sharded).logprobs(signal), want)

    index = json.loads((sharded / "model.safetensors.index.json").read_text())
    shard = sorted(set(index["weight_map"].values()))[-1]
    (sharded / shard).unlink()
    with pytest.raises(CheckpointError, match=f"shard {shard} of model.safetensors.index.json"):
        load_model(sharded)
