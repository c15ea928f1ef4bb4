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
