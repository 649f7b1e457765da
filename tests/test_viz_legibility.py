"""lib.viz.legibility: the smallest text a figure draws, and the PNG metadata that carries it to the site's tests."""

from __future__ import annotations

import base64
import io
import math

import pytest
from matplotlib.figure import Figure
from PIL import Image

from lib.viz import legibility


def _figure(**subplots) -> tuple[Figure, object]:
    fig = Figure(figsize=(4, 3))
    return fig, fig.subplots(**subplots)


def test_smallest_text_is_the_smallest_drawn_string():
    fig, ax = _figure()
    ax.plot([0, 1], [0, 1], label="a line")
    ax.tick_params(labelsize=9)
    ax.legend(fontsize=7.2)
    ax.set_title("title", fontsize=14)
    assert legibility.smallest_text_pt(fig) == pytest.approx(7.2)


def test_hidden_and_blank_text_does_not_count():
    fig, ax = _figure()
    ax.tick_params(labelsize=4)
    ax.axis("off")  # its 4-pt tick labels are never drawn
    ax.text(0.5, 0.5, "   ", fontsize=3)
    hidden = ax.text(0.1, 0.1, "hidden", fontsize=2)
    hidden.set_visible(False)
    ax.text(0.5, 0.5, "shown", fontsize=12)
    assert legibility.smallest_text_pt(fig) == pytest.approx(12)


def test_a_figure_without_text_has_no_smallest_text():
    fig, ax = _figure()
    ax.axis("off")
    assert legibility.smallest_text_pt(fig) == math.inf


def test_drawing_leaves_the_renderer_as_it_was():
    fig, ax = _figure()
    ax.set_title("title")
    legibility.smallest_text_pt(fig)
    assert "draw_text" not in vars(fig.canvas.get_renderer())


@pytest.fixture
def shell():
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.core.pylabtools import select_figure_formats

    shell = InteractiveShell.instance()
    select_figure_formats(shell, {"png"})
    yield shell
    InteractiveShell.clear_instance()


def _png_text_size(shell, fig: Figure) -> str | None:
    data, _ = shell.display_formatter.format(fig)
    png = data["image/png"]
    with Image.open(io.BytesIO(png if isinstance(png, bytes) else base64.b64decode(png))) as image:
        return image.info.get(legibility.TEXT_SIZE_KEY)


def test_a_notebook_figure_carries_its_smallest_text_in_the_png(shell):
    fig, ax = _figure()
    ax.set_title("t", fontsize=8.5)
    ax.tick_params(labelsize=9)
    assert _png_text_size(shell, fig) is None  # before lib.viz asks for it
    legibility.record_text_size()
    assert _png_text_size(shell, fig) == "8.500"


def test_the_png_printer_is_wrapped_again_after_the_inline_backend_replaces_it(shell):
    from IPython.core.pylabtools import select_figure_formats

    legibility.record_text_size()
    legibility.record_text_size()  # importing lib.viz twice registers the event callbacks once
    assert sum(cb.__name__ == "wrap_png_printer" for cb in shell.events.callbacks["pre_run_cell"]) == 1
    select_figure_formats(shell, {"png"})  # what matplotlib's inline backend does when pyplot makes a figure
    fig, ax = _figure()
    ax.set_title("t", fontsize=9)
    assert _png_text_size(shell, fig) is None
    shell.events.trigger("post_execute")
    assert _png_text_size(shell, fig) == "9.000"
