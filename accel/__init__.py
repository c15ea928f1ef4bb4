"""Entry points for accelerator hosts (TPU, GPU or CPU): ``python -m accel.infer``, ``accel.train``.

Thin on purpose: the engine is library code in ``galvasr.infer`` and
``galvasr.model.train``; these only parse flags.
"""
