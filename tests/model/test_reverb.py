"""Room-reverberation augmentation: synthetic impulse responses, and make_example's use of them."""

import numpy as np
import pytest

from galvasr.model import trainset
from galvasr.model.trainset import Augment, Utterances, make_example, reverb, room_impulse_response


def _utts() -> Utterances:
    rng = np.random.default_rng(3)
    lens = [16000, 24000, 12000]
    pcm = (rng.standard_normal(sum(lens)) * 3000).astype(np.int16)
    return Utterances(pcm, np.concatenate([[0], np.cumsum(lens)]), ("a b", "cd", "e"), ("v",) * 3)


def test_rir_direct_path_and_decay() -> None:
    h = room_impulse_response(np.random.default_rng(0), rt60=0.5, drr_db=6.0)
    assert h.dtype == np.float32 and len(h) == 8000 and h[0] == 1.0
    tail = h[1:].astype(np.float64)
    assert 10 * np.log10(1.0 / np.sum(tail**2)) == pytest.approx(6.0, abs=1e-3)
    # energy in successive 50 ms windows falls, by about 60 dB per rt60 (6 dB per 50 ms)
    e = np.array([np.sum(tail[i : i + 800] ** 2) for i in range(0, 7200, 800)])
    assert np.all(np.diff(e) < 0)
    slope = np.polyfit(np.arange(len(e)) * 0.05, 10 * np.log10(e), 1)[0]
    assert slope == pytest.approx(-60 / 0.5, rel=0.1)


def test_reverb_deterministic_length_level() -> None:
    x = np.random.default_rng(1).standard_normal(20000).astype(np.float32) * 1000
    aug = Augment(reverb_p=1.0)
    y1 = reverb(x, np.random.default_rng(5), aug)
    y2 = reverb(x, np.random.default_rng(5), aug)
    y3 = reverb(x, np.random.default_rng(6), aug)
    assert y1.dtype == np.float32 and len(y1) == len(x)
    assert np.array_equal(y1, y2) and not np.array_equal(y1, y3)
    assert np.sqrt(np.mean(y1.astype(np.float64) ** 2)) == pytest.approx(
        np.sqrt(np.mean(x.astype(np.float64) ** 2)), rel=1e-4
    )
    # a click rings on after itself, and decays
    click = np.zeros(16000, np.float32)
    click[100] = 1.0
    r = reverb(click, np.random.default_rng(2), Augment(reverb_p=1.0, rt60_range=(0.4, 0.4)))
    assert np.max(np.abs(r[:100])) < 1e-6 * np.max(np.abs(r)) and np.argmax(np.abs(r)) == 100
    e1, e2 = np.sum(r[101:2101] ** 2), np.sum(r[4101:6101] ** 2)
    assert 0 < e2 < e1


def test_make_example_reverb_off_draws_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    utts = _utts()

    def boom(*_a: object) -> np.ndarray:
        raise AssertionError("reverb called with reverb_p=0")

    monkeypatch.setattr(trainset, "reverb", boom)
    rng_a, rng_b = np.random.default_rng([1, 2]), np.random.default_rng([1, 2])
    a, ta = make_example(utts, rng_a, 64000, Augment())
    b, tb = make_example(utts, rng_b, 64000, Augment(reverb_p=0.0, rt60_range=(0.5, 0.6)))
    assert np.array_equal(a, b) and ta == tb
    assert rng_a.random() == rng_b.random()


def test_make_example_reverb_on() -> None:
    utts = _utts()
    aug = Augment(noise_p=0.0, telephone_p=0.0, speed_p=0.0, reverb_p=1.0)
    a, ta = make_example(utts, np.random.default_rng([1, 2]), 64000, aug)
    b, tb = make_example(utts, np.random.default_rng([1, 2]), 64000, aug)
    dry, td = make_example(
        utts,
        np.random.default_rng([1, 2]),
        64000,
        Augment(noise_p=0.0, telephone_p=0.0, speed_p=0.0),
    )
    assert np.array_equal(a, b) and ta == tb == td
    assert len(a) == len(dry) and not np.array_equal(a, dry)
