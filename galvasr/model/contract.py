"""The log-probability contract, and a loaded model that keeps it.

Whatever produced them, log-probabilities in galvasr are ``[frames, vocab]``
float arrays (natural log, softmax over the last axis) whose column ``i`` is
``info.vocab.symbols[i]``; column ``info.vocab.blank_index`` is the CTC blank;
frame ``t`` starts at PCM sample ``t * info.frame_stride_samples`` of
``info.sample_rate`` audio (``info.clock`` converts). ``info.model_version`` is
written next to every output: for a galvasr checkpoint its name plus the first
8 hex digits of the weights' SHA-256; for a Hugging Face folder
``<model_type>-<8 hex>`` of a SHA-256 over the weights, config, vocabulary,
tokenizer and processor configs (galvasr.model.hf.files).

``ModelInfo`` is what the pipeline's stages carry: the align stage ships it
to every Spark worker, so it is a small frozen value (a few strings and ints
and the vocabulary) and this module imports neither JAX nor anything heavy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from galvasr.model.vocab import Vocabulary

if TYPE_CHECKING:
    import jax.numpy as jnp

# JAX is imported where a model is loaded, not here: Spark's Python workers
# import this module for the contract alone, and JAX costs them 0.7 s and
# ~160 MB each.
ApplyFn = Callable[[Any, "jnp.ndarray", "jnp.ndarray"], tuple["jnp.ndarray", "jnp.ndarray"]]

PRECISIONS = ("float32", "bfloat16")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, with what is wrong with it."""


@dataclass(frozen=True)
class FrameClock:
    """Frame <-> time of a model's output."""

    frame_stride_samples: int
    sample_rate: int

    def ms(self, frame: int) -> float:
        return 1000.0 * frame * self.frame_stride_samples / self.sample_rate

    def frame(self, ms: float) -> int:
        """The frame that contains time ``ms``."""
        return int(ms * self.sample_rate // (1000 * self.frame_stride_samples))

    def frame_after(self, ms: float) -> int:
        """The first frame that starts at or after time ``ms``."""
        return int(-(-ms * self.sample_rate // (1000 * self.frame_stride_samples)))

    @property
    def seconds_per_frame(self) -> float:
        return self.frame_stride_samples / self.sample_rate


@dataclass(frozen=True)
class ModelInfo:
    """Everything the pipeline needs to know about a model's outputs.

    Light and picklable: the align stage sends it to Spark workers, which
    never import JAX (see ``LoadedModel`` for the model itself).
    """

    name: str
    model_version: str
    vocab: Vocabulary
    frame_stride_samples: int
    sample_rate: int
    architecture: str
    # Samples one output frame needs: 1 for a model that pads its input (galvasr's
    # own: ceil(n / stride) frames), 400 for wav2vec2's unpadded conv stack
    # (floor((n - 400) / 320) + 1 frames, transformers' inputs_to_logits_ratio
    # arithmetic). Frame t is placed at samples [t * stride, (t + 1) * stride).
    frame_receptive_samples: int = 1

    def num_frames(self, num_samples: int) -> int:
        """Frames the model gives for ``num_samples`` of audio."""
        if num_samples < self.frame_receptive_samples:
            return 0
        return (num_samples - self.frame_receptive_samples) // self.frame_stride_samples + 1

    @property
    def max_missing_frames(self) -> int:
        """How many frames short of ``ceil(n / stride)`` the model can be, for any ``n``."""
        return -(-(self.frame_receptive_samples - 1) // self.frame_stride_samples) + 1

    @property
    def blank_index(self) -> int:
        return self.vocab.blank_index

    @property
    def frame_duration_ms(self) -> float:
        return 1000.0 * self.frame_stride_samples / self.sample_rate

    @property
    def clock(self) -> FrameClock:
        return FrameClock(self.frame_stride_samples, self.sample_rate)


@dataclass
class LoadedModel:
    """A model ready to run: ``model(pcm, lengths) -> (logprobs, num_frames)``.

    ``pcm`` is ``[batch, samples]`` int16 or float at ``info.sample_rate``;
    ``lengths`` ``[batch]`` counts the valid samples of each row. The result
    is ``[batch, frames, vocab]`` float32 log-probabilities and ``[batch]``
    valid frame counts; frames past a row's count are padding.
    """

    info: ModelInfo
    params: Any
    apply: ApplyFn
    num_frames: Callable[[int], int]
    precision: str = "float32"
    _jitted: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {self.precision!r}")
        import jax

        self._jitted = jax.jit(self.apply)

    def __call__(self, pcm: Any, lengths: Any) -> tuple[jnp.ndarray, jnp.ndarray]:
        import jax.numpy as jnp

        return self._jitted(self.params, jnp.asarray(pcm), jnp.asarray(lengths, jnp.int32))

    def logprobs(self, pcm: np.ndarray) -> np.ndarray:
        """Log-probabilities ``[frames, vocab]`` of one unpadded signal, as numpy float32."""
        lp, n = self(pcm[None, :], np.array([len(pcm)]))
        return np.asarray(lp[0, : int(n[0])], dtype=np.float32)
