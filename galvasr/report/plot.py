"""One way the report draws a PNG: the run's plots and the explorer's waveforms."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

# (left, bottom, right, top) as fractions of the figure
Margins = tuple[float, float, float, float]


def png(
    draw: Callable[[Any], None],
    size: tuple[float, float] = (7.0, 3.2),
    margins: Margins | None = None,
) -> bytes:
    """``draw(ax)`` on a fresh figure, as PNG bytes with no software stamp (same bytes each run).

    Without ``margins`` the layout is fitted to the labels (tight_layout: about 90 ms a
    figure, most of a small figure's cost); a caller whose labels are fixed gives margins.
    """
    # A Figure without pyplot: no global figure registry to import, fill or close.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    draw(ax)
    if margins is None:
        figure.tight_layout()
    else:
        left, bottom, right, top = margins
        figure.subplots_adjust(left=left, bottom=bottom, right=right, top=top)
    out = io.BytesIO()
    figure.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()
