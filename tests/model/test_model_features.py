from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from galvasr.model.features import log_mel


def test_frame_count_and_padding_invariance() -> None:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(4000) * 3000).astype(np.int16)
    padded = np.zeros((2, 6400), np.int16)
    padded[0, :4000] = x
    padded[1, :4000] = x
    feats, valid = log_mel(jnp.asarray(padded), jnp.array([4000, 4000]), n_mels=40)
    assert feats.shape == (2, 40, 40)
    assert valid.tolist() == [25, 25]
    alone, _ = log_mel(jnp.asarray(x[None, :]), jnp.array([4000]), n_mels=40)
    # Frames whose window lies inside the signal do not see the padding.
    np.testing.assert_allclose(np.asarray(feats[0, :20]), np.asarray(alone[0, :20]), atol=1e-4)
    assert float(jnp.abs(feats[0, 25:]).max()) == 0.0


def test_int16_and_float_input_agree_and_gain_is_normalised_away() -> None:
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((1, 3200)) * 2000).astype(np.int16)
    a, _ = log_mel(jnp.asarray(x), jnp.array([3200]), n_mels=40)
    b, _ = log_mel(jnp.asarray(x / 32768.0, dtype=jnp.float32), jnp.array([3200]), n_mels=40)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-4)
    # A 12 dB quieter copy differs only where the log floor (1e-6) shows.
    c, _ = log_mel(jnp.asarray(x / 32768.0 * 0.25, dtype=jnp.float32), jnp.array([3200]), n_mels=40)
    assert float(jnp.mean(jnp.abs(a - c))) < 0.03


def test_unit_warp_is_the_plain_filterbank_and_features() -> None:
    from galvasr.model.features import mel_filterbank, warped_mel_filterbank

    fbs = warped_mel_filterbank(jnp.array([1.0, 1.0]), 512, 40, 16_000, 8_000.0)
    np.testing.assert_allclose(
        np.asarray(fbs[1]), mel_filterbank(512, 40, 16_000, 8_000.0), atol=1e-5
    )
    rng = np.random.default_rng(2)
    x = jnp.asarray((rng.standard_normal((2, 3200)) * 2000).astype(np.int16))
    plain, _ = log_mel(x, jnp.array([3200, 2000]), n_mels=40)
    warped, _ = log_mel(x, jnp.array([3200, 2000]), n_mels=40, warp=jnp.ones(2))
    np.testing.assert_allclose(np.asarray(plain), np.asarray(warped), atol=1e-4)


def test_warp_moves_a_tone_up_or_down_the_mel_axis() -> None:
    t = np.arange(8000) / 16_000
    tone = (np.sin(2 * np.pi * 1000 * t) * 8000).astype(np.int16)
    x = jnp.asarray(np.stack([tone] * 3))
    feats, _ = log_mel(x, jnp.full(3, 8000), n_mels=80, warp=jnp.array([0.85, 1.0, 1.15]))
    peak = np.asarray(jnp.argmax(feats[:, 20:30].mean(axis=1), axis=-1))
    # A tone at f lands in the filter centred on warp * f: a shorter tract
    # (> 1) moves it to higher bins, a longer one (< 1) to lower bins.
    assert peak[0] < peak[1] < peak[2]


def test_feature_mask_zeroes_masked_cells_only() -> None:
    rng = np.random.default_rng(3)
    x = jnp.asarray((rng.standard_normal((1, 3200)) * 2000).astype(np.int16))
    mask = np.ones((1, 20, 40), np.float32)
    mask[0, 5:8] = 0.0
    mask[0, :, 10:12] = 0.0
    plain, _ = log_mel(x, jnp.array([3200]), n_mels=40)
    masked, _ = log_mel(x, jnp.array([3200]), n_mels=40, feature_mask=jnp.asarray(mask))
    assert float(jnp.abs(masked[0, 5:8]).max()) == 0.0
    assert float(jnp.abs(masked[0, :, 10:12]).max()) == 0.0
    np.testing.assert_array_equal(np.asarray(masked)[mask == 1], np.asarray(plain)[mask == 1])
