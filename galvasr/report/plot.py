"""One way the report draws a PNG: the run's plots and the explorer's waveforms."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any


def png(draw: Callable[[Any], None], size: tuple[float, float] = (7.0, 3.2)) -> bytes:
    """``draw(ax)`` on a fresh figure, as PNG bytes with no software stamp (same bytes each run)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=size, dpi=100)
    try:
        draw(ax)
        figure.tight_layout()
        out = io.BytesIO()
        figure.savefig(out, format="png", metadata={"Software": None})
        return out.getvalue()
    finally:
        plt.close(figure)
