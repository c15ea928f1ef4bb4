"""Hugging Face CTC checkpoints (wav2vec2 and its relatives) in JAX.

A folder as ``save_pretrained`` writes it (``config.json``,
``model.safetensors``, ``vocab.json``, the tokenizer and processor configs)
loads into a ``LoadedModel`` (galvasr.model.contract) whose forward pass
follows transformers' own, to 1e-4 on log-probabilities in float32:

- ``config``: which family (``architectures``/``model_type``) and its
  hyper-parameters; what is not implemented is refused in one line;
- ``files``: processor settings, vocabulary and special tokens, the
  content hash that is the model version;
- ``layers``: the numerics all families share (feature encoder, positional
  convolution, attention, feed-forward);
- ``wavlm``, ``conformer``: the encoders that differ;
- ``model``: tensor checks, the forward pass, ``load_hf``.

``galvasr.model.load_model`` reaches it through
``galvasr.model.wav2vec2.load_wav2vec2``.
"""
