"""galvasr: build speech recognition training sets from public audio with subtitles."""

__version__ = "0.1.0"
