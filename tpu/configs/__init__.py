"""Training configs: plain Python, every default in one place."""
