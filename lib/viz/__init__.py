"""Figures of the book: matplotlib helpers (:mod:`lib.viz.plots`) and explorers, interactive figures declared
once and rendered live with ipywidgets or statically with an embedded JS viewer (:mod:`lib.viz.explorer`,
the standard ones in :mod:`lib.viz.explorers`)."""

from lib.viz.explorer import (
    BOOK_BUILD_ENV,
    Contour,
    Control,
    Explorer,
    Frame,
    Label,
    Line,
    LiveExplorer,
    Markers,
    Panel,
    View,
)
from lib.viz.explorers import curve_explorer, optimizer_explorer, quadratic_explorer
from lib.viz.plots import band_bounds, plot_band, plot_basins, plot_gradient_field, plot_heatmap

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
]
