"""How small a figure's text is, written into the figure's PNG so that the site's tests can check it.

A PNG's pixels cannot say how large its letters are, and a reader's eye only cares about the letters as drawn on
the page: a figure's text of :math:`s` points, saved at :math:`d` dots per inch and shown at a fraction
:math:`r` of its natural width, is :math:`s \\cdot d/72 \\cdot r` CSS pixels tall. :func:`smallest_text_pt` measures
:math:`s` for the smallest text a figure actually draws (tick labels, axis labels, legends, annotations: whatever
reaches the renderer, nothing hidden), and :func:`record_text_size` makes every figure a notebook shows carry it in
a PNG text chunk (:data:`TEXT_SIZE_KEY`). The browser test ``tests/browser/test_reader.py`` (at 1280 px, light)
reads it back with the figure's ``dpi`` and its width on the page, and compares with the page's caption text.
"""

from __future__ import annotations

import contextlib
import math

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["TEXT_SIZE_KEY", "record_text_size", "smallest_text_pt"]

TEXT_SIZE_KEY = "lib:smallest-text-pt"


def smallest_text_pt(fig: Figure) -> float:
    """The font size in points of the smallest non-blank text that drawing ``fig`` puts on the canvas.

    The figure is drawn once on its own canvas's renderer with the renderer's ``draw_text`` wrapped to note each
    string's size, so invisible artists, empty tick labels and axes switched off do not count. ``inf`` for a
    figure without text.
    """
    canvas = fig.canvas if hasattr(fig.canvas, "get_renderer") else FigureCanvasAgg(fig)
    renderer = canvas.get_renderer()
    sizes = []
    draw_text = renderer.draw_text

    def noting_draw_text(gc, x, y, s, prop, angle, ismath=False, mtext=None):
        if s.strip():
            sizes.append(prop.get_size_in_points())
        return draw_text(gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)

    renderer.draw_text = noting_draw_text
    try:
        fig.draw(renderer)
    finally:
        del renderer.draw_text  # the instance attribute shadowed the class's method
    return min(sizes, default=math.inf)


def _with_text_size(print_png):
    def print_png_with_text_size(fig: Figure, **kwargs):
        metadata = {TEXT_SIZE_KEY: f"{smallest_text_pt(fig):.3f}", **kwargs.pop("metadata", {})}
        return print_png(fig, metadata=metadata, **kwargs)

    print_png_with_text_size.records_text_size = True
    return print_png_with_text_size


def _wrap_png_printer(shell) -> None:
    formatter = shell.display_formatter.formatters["image/png"]
    try:
        print_png = formatter.lookup_by_type(Figure)
    except KeyError:  # PNG is not among the inline backend's formats: nothing to annotate
        return
    if not getattr(print_png, "records_text_size", False):
        formatter.for_type(Figure, _with_text_size(print_png))


def record_text_size() -> None:
    """In an IPython kernel, make every figure shown as PNG carry :func:`smallest_text_pt` in its metadata.

    matplotlib's inline backend registers its PNG printer when pyplot makes its first figure and again whenever its
    formats change, so the printer is wrapped again before every cell runs and after it (before the inline backend
    shows the cell's figures, which it does after the cell), not once. Outside IPython this does nothing.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return
    with contextlib.suppress(ImportError):
        # importing the inline backend registers its PNG printer now (when it is the backend) rather than when
        # pyplot makes its first figure, which may be shown in the middle of a cell
        import matplotlib_inline.backend_inline  # noqa: F401
    _wrap_png_printer(shell)
    for event in ("pre_run_cell", "post_execute"):
        if all(getattr(callback, "__name__", "") != "wrap_png_printer" for callback in shell.events.callbacks[event]):

            def wrap_png_printer(*_):
                _wrap_png_printer(shell)

            shell.events.register(event, wrap_png_printer)
