"""The sample corpus: archive.org-style items of synthesized speech with faulty
subtitles, and the exact truth about them (see data/sample/README.md).

Modules: ``items`` (the plan, with every item's voices), ``track`` (placing
sentences with known pauses; galvasr.synth.voices speaks them), ``subtitles_faults``
(SRT and WebVTT with planted faults), ``encode`` (deterministic MP3, Ogg, FLAC,
WAV), ``generate`` (writes it all), ``readme``.
"""
