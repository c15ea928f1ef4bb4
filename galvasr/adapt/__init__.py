"""In-run adaptation (stage ``adapt``, after align, before release).

The bundled model learnt from synthetic voices; a run's own audio, with the
segments the aligner is sure of, is training data in the run's own voices.
Each round (``[adapt] rounds``) selects confident segments (``select``),
fine-tunes the current model on them with the cue text as labels
(``finetune``: galvasr.model.train's step and optimizer), measures greedy CER
on the segments of held-out files never trained on, and keeps the new model
only when that CER falls; a kept model then infers and aligns the run again
(``stage``), so release cuts the adapted alignment.
"""
