"""A plot a screen reader can read: the course's matplotlib figures shown with a text equivalent.

JupyterLab renders an ``image/png`` output as an ``<img>`` without ``alt`` and reads no alt from the output's
metadata, so a plot shown the usual way (the inline backend at the end of the cell, or ``plt.show()``) is a
picture a screen reader can only call "image". The plotting helpers (cow, cost, tree_drawing) therefore show
their own figure through `show`: one output whose ``text/html`` is ``<img alt="..." src="data:image/png;base64,
...">`` - the alt states what the plot shows, from the measured data - and whose ``text/plain`` is the same
words (what nbval compares, and what a text-only front end prints). The figure is then closed, so the inline
backend and a following ``plt.show()`` draw it no second time.

The PNG changes from run to run; tests/nbval_sanitize.cfg replaces its base64 before nbval compares, and the
times in the alt are sanitized like every printed time.

Outside a Jupyter kernel (a script, the terminal) nothing is shown here: the figure stays open for
``plt.show()``, as before.
"""
from __future__ import annotations

import base64
import html
import io


def _in_a_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def png_bytes(fig, dpi: int = 100) -> bytes:
    """The figure as PNG (what the inline backend would have shown; no timestamp, so equal runs give equal bytes)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def bundle(fig, alt: str) -> dict:
    """The mime bundle `show` displays: an <img> with `alt` (HTML) and `alt` as plain text."""
    data = base64.b64encode(png_bytes(fig)).decode("ascii")
    img = (f'<img alt="{html.escape(alt, quote=True)}" src="data:image/png;base64,{data}" '
           f'style="max-width: 100%">')
    return {"text/html": img, "text/plain": alt}


def show(fig, alt: str) -> bool:
    """Show `fig` in the notebook with `alt` as its text equivalent and close it; False (figure left open) outside
    a kernel."""
    if not alt.strip():
        raise ValueError("a plot needs a text equivalent: alt is empty")
    if not _in_a_kernel():
        return False
    import matplotlib.pyplot as plt
    from IPython.display import display
    display(bundle(fig, alt), raw=True)
    plt.close(fig)
    return True


def series(points, unit: str = "", digits: int = 0) -> str:
    """(x, y) pairs in words for an alt text: "0 → 41 µs, 32 → 454 µs"."""
    sep = f" {unit}" if unit else ""
    return ", ".join(f"{x} → {y:.{digits}f}{sep}" if isinstance(y, float) else f"{x} → {y}{sep}"
                     for x, y in points)
