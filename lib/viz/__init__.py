"""Figures of the book: matplotlib helpers (:mod:`lib.viz.plots`) and explorers, interactive figures declared
once and rendered live with ipywidgets or statically with an embedded JS viewer.

An explorer's pieces, one module per concept: :mod:`lib.viz.declaration` (controls, items, panels, views),
:mod:`lib.viz.geometry` (data to axes fractions, clipping), :mod:`lib.viz.codec` (the static JSON and its
inverse), :mod:`lib.viz.figure` (the matplotlib figure and background both renderings share),
:mod:`lib.viz.static` (the HTML/SVG rendering), :mod:`lib.viz.live` (the ipywidgets rendering) and
:mod:`lib.viz.explorer` (:class:`Explorer`, which ties a declaration to its renderings); the standard explorers
are in :mod:`lib.viz.explorers`. Import them from here.
"""

from lib.viz.declaration import Contour, Control, Frame, Label, Line, Markers, Panel, View
from lib.viz.explorer import BOOK_BUILD_ENV, Explorer
from lib.viz.explorers import curve_explorer, optimizer_explorer, quadratic_explorer
from lib.viz.live import LiveExplorer
from lib.viz.plots import band_bounds, plot_band, plot_basins, plot_gradient_field, plot_heatmap, use_style
from lib.viz.tables import show_table

use_style()  # the book's one figure style

__all__ = [
    "BOOK_BUILD_ENV",
    "Contour",
    "Control",
    "Explorer",
    "Frame",
    "Label",
    "Line",
    "LiveExplorer",
    "Markers",
    "Panel",
    "View",
    "band_bounds",
    "curve_explorer",
    "optimizer_explorer",
    "plot_band",
    "plot_basins",
    "plot_gradient_field",
    "plot_heatmap",
    "quadratic_explorer",
    "show_table",
]
