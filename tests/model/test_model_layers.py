"""The CPU-friendly layers of ConvCTC against flax's own convolutions."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from galvasr.model.convctc import ConvCTC, ConvCTCConfig, DepthwiseConv1D, SubsampleConv1D


@pytest.mark.parametrize("kernel_size", [1, 3, 4, 15])
def test_depthwise_equals_grouped_nn_conv(kernel_size: int) -> None:
    x = jnp.asarray(np.random.default_rng(0).standard_normal((3, 37, 16)), jnp.float32)
    ours = DepthwiseConv1D(16, kernel_size)
    params = ours.init(jax.random.PRNGKey(0), x)
    flax_conv = nn.Conv(16, (kernel_size,), feature_group_count=16)
    # Same parameter names and shapes, and the same initial values: a checkpoint
    # made with either loads into the other.
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(
        jnp.shape, flax_conv.init(jax.random.PRNGKey(0), x)
    )
    np.testing.assert_allclose(
        ours.apply(params, x), flax_conv.apply(params, x), rtol=1e-5, atol=1e-5
    )
    # Gradients with respect to the parameters and the input.
    grads = jax.grad(lambda p, v: jnp.sum(ours.apply(p, v) ** 2), argnums=(0, 1))(params, x)
    flax_grads = jax.grad(lambda p, v: jnp.sum(flax_conv.apply(p, v) ** 2), argnums=(0, 1))(
        params, x
    )
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3), grads, flax_grads
    )


def test_subsample_equals_nn_conv_on_even_lengths_and_keeps_its_centre_on_odd() -> None:
    rng = np.random.default_rng(1)
    even = jnp.asarray(rng.standard_normal((2, 40, 8)), jnp.float32)
    ours = SubsampleConv1D(6, 2)
    params = ours.init(jax.random.PRNGKey(0), even)
    flax_conv = nn.Conv(6, (5,), strides=(2,))
    np.testing.assert_allclose(
        ours.apply(params, even), flax_conv.apply(params, even), rtol=1e-5, atol=1e-5
    )
    # One more input frame appends one output frame and changes no earlier one
    # (nn.Conv's SAME padding shifts every frame by one input step here).
    odd = jnp.concatenate([even, jnp.asarray(rng.standard_normal((2, 1, 8)), jnp.float32)], 1)
    out_even, out_odd = ours.apply(params, even), ours.apply(params, odd)
    assert out_odd.shape[1] == 21
    np.testing.assert_allclose(out_odd[:, :19], out_even[:, :19], rtol=1e-5, atol=1e-5)
    assert not np.allclose(flax_conv.apply(params, odd)[:, :19], out_even[:, :19], atol=1e-3)


def test_model_frames_do_not_depend_on_the_parity_of_the_padded_width() -> None:
    config = ConvCTCConfig(width=16, num_blocks=1, kernel_size=3, n_mels=16, expansion=1)
    model = ConvCTC(config)
    signal = np.random.default_rng(2).integers(-3000, 3000, (1, 15_840), dtype=np.int16)
    length = jnp.array([15_840])
    params = model.init(jax.random.PRNGKey(0), jnp.asarray(signal), length)
    # The same signal in a 15,840-sample array (99 mel frames) and zero-padded to
    # 16,000 (100 mel frames): the model masks the padding, so the 50 frames
    # must agree. With nn.Conv's SAME padding the odd width shifted them all.
    padded = np.zeros((1, 16_000), np.int16)
    padded[:, :15_840] = signal
    lp_odd, frames_odd = model.apply(params, jnp.asarray(signal), length)
    lp_even, frames_even = model.apply(params, jnp.asarray(padded), length)
    assert int(frames_odd[0]) == int(frames_even[0]) == 50
    assert lp_odd.shape[1] == lp_even.shape[1] == 50
    np.testing.assert_allclose(lp_odd[0], lp_even[0], atol=1e-4)
