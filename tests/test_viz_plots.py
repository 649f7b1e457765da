"""lib.viz.plots' general helpers: bands over repeated runs, heat maps of settings, gradient fields, basins."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection, QuadMesh
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.quiver import Quiver

import lib.viz
from lib.surfaces import get
from lib.viz import plots

pytestmark = pytest.mark.filterwarnings("error")


def _axes(n: int = 1):
    fig = Figure(figsize=(4.0 * n, 3.0), dpi=50)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, n)
    return fig, axes


def _pixel(fig, ax, x, y) -> tuple:
    """The RGBA colour (0..1) drawn at data point (x, y)."""
    fig.canvas.draw()
    px, py = ax.transData.transform((x, y))
    image = np.asarray(fig.canvas.buffer_rgba())
    return tuple(image[image.shape[0] - 1 - round(py), round(px)] / 255.0)


def _fill_range(fill) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest y of a fill_between polygon at each of its x values."""
    xy = np.concatenate([path.vertices for path in fill.get_paths()])
    xs = np.unique(xy[:, 0])
    return (np.array([xy[xy[:, 0] == x, 1].min() for x in xs]),
            np.array([xy[xy[:, 0] == x, 1].max() for x in xs]))


# ---------------------------------------------------------------------------------------------------- bands


def test_band_bounds_against_numpy():
    rng = np.random.default_rng(0)
    samples = rng.normal(size=(5, 7))  # 5 seeds, 7 epochs
    c, lo, hi = plots.band_bounds(samples)
    np.testing.assert_array_equal(c, samples.mean(0))
    np.testing.assert_array_equal(lo, samples.min(0))
    np.testing.assert_array_equal(hi, samples.max(0))
    c, lo, hi = plots.band_bounds(samples, center="median", spread="std")
    np.testing.assert_allclose(c, np.median(samples, 0))
    np.testing.assert_allclose(hi - c, samples.std(0))
    np.testing.assert_allclose(c - lo, samples.std(0))
    c, lo, hi = plots.band_bounds(samples.T, axis=1, center="median", spread=(25, 75))
    np.testing.assert_allclose([lo, hi], np.percentile(samples, [25, 75], axis=0))
    assert np.all(lo <= c) and np.all(c <= hi)
    given = np.arange(7.0)  # a centre computed elsewhere is drawn as given
    np.testing.assert_array_equal(plots.band_bounds(samples, center=given)[0], given)


def test_band_bounds_nan_repeats():
    samples = np.array([[1.0, 2.0, np.nan], [3.0, np.nan, np.nan], [5.0, 4.0, np.nan]])
    c, lo, hi = plots.band_bounds(samples, skipna=True)  # no warning for the all-NaN column
    np.testing.assert_array_equal(c[:2], [3.0, 3.0])
    np.testing.assert_array_equal(lo[:2], [1.0, 2.0])
    np.testing.assert_array_equal(hi[:2], [5.0, 4.0])
    assert np.isnan([c[2], lo[2], hi[2]]).all()
    for spread in ("std", (10, 90)):
        assert np.isnan(plots.band_bounds(samples, skipna=True, spread=spread)[1][2])
    c, lo, hi = plots.band_bounds(samples)  # propagate: a diverged seed makes a gap
    assert np.isnan([c[1], lo[1], hi[1]]).all() and c[0] == 3.0


@pytest.mark.parametrize("kwargs, message", [
    ({"center": "mode"}, "Invalid center: 'mode'"),
    ({"spread": "iqr"}, "Invalid spread: 'iqr'"),
    ({"spread": (75, 25)}, "Invalid spread"),
    ({"spread": (0, 101)}, "Invalid spread"),
    ({"center": np.zeros(3)}, "Invalid center shape"),
])
def test_band_bounds_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plots.band_bounds(np.zeros((2, 4)), **kwargs)


def test_plot_band_draws_the_centre_and_the_band():
    fig, ax = _axes()
    x = np.arange(6.0)
    samples = np.stack([x, 2 * x, 4 * x])
    band = plots.plot_band(ax, x, samples, color="C1", label="run", ls="--", lw=2.0)
    assert isinstance(band.line, Line2D) and isinstance(band.fill, PolyCollection)
    np.testing.assert_array_equal(band.line.get_ydata(), samples.mean(0))
    assert band.line.get_linestyle() == "--" and band.line.get_linewidth() == 2.0
    lo, hi = _fill_range(band.fill)
    np.testing.assert_allclose(lo, x)
    np.testing.assert_allclose(hi, 4 * x)
    assert to_rgba(band.line.get_color()) == to_rgba("C1")
    assert band.fill.get_facecolor()[0][:3] == pytest.approx(to_rgba("C1")[:3])
    assert band.fill.get_alpha() == 0.15
    handles, labels = ax.get_legend_handles_labels()
    assert labels == ["run"] and handles == [band.line]
    fig.canvas.draw()


def test_plot_band_percentiles_with_a_given_centre():
    fig, ax = _axes()
    rng = np.random.default_rng(1)
    samples = rng.integers(0, 100, size=(4, 32)).astype(float)  # 4 settings, 32 seeds each
    median = np.median(samples, axis=1).astype(int)
    band = plots.plot_band(ax, np.arange(4), samples, axis=1, center=median, spread=(25, 75), marker="s")
    np.testing.assert_array_equal(band.line.get_ydata(), median)
    lo, hi = _fill_range(band.fill)
    np.testing.assert_allclose([lo, hi], np.percentile(samples, [25, 75], axis=1))
    assert band.line.get_marker() == "s"


# -------------------------------------------------------------------------------------------------- heat maps


def test_plot_heatmap_greys_masked_and_non_finite_cells():
    fig, (ax, ax2) = _axes(2)
    x, y = np.linspace(0.0, 1.0, 5), np.linspace(0.0, 0.9, 4)
    rate = 0.5 + 0.5 * np.add.outer(y, x) / 1.9  # rate[j, i] at (x[i], y[j]), in [0.5, 1.0]
    rate[0, 0] = np.nan
    rate[3, 1] = np.inf
    heat = plots.plot_heatmap(ax, x, y, rate, mask=~(rate < 0.95), vmin=0.5, vmax=1.0, colorbar_label="rate ρ",
                              optimum=(x[2], y[1]), optimum_label="best (η*, β*)", xlabel="learning rate η",
                              ylabel="momentum β", title="rate")
    assert isinstance(heat.mesh, QuadMesh)
    greyed = ~np.isfinite(rate) | ~(rate < 0.95)
    np.testing.assert_array_equal(np.ma.getmaskarray(heat.mesh.get_array()).reshape(rate.shape), greyed)
    assert heat.colorbar.ax.get_ylabel() == "rate ρ"
    assert heat.optimum.get_marker() == "*"
    np.testing.assert_array_equal(np.column_stack(heat.optimum.get_data()), [[x[2], y[1]]])
    assert ax.get_legend_handles_labels()[1] == ["best (η*, β*)"]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("learning rate η", "momentum β", "rate")
    grey = to_rgba(plots.NOT_CONVERGED)
    for j, i in zip(*np.nonzero(greyed), strict=True):
        assert _pixel(fig, ax, x[i], y[j]) == pytest.approx(grey, abs=2 / 255), (j, i)
    for j, i in zip(*np.nonzero(~greyed), strict=True):
        if (j, i) == (1, 2):
            continue  # under the optimum's star
        expected = heat.mesh.cmap(heat.mesh.norm(rate[j, i]))
        assert _pixel(fig, ax, x[i], y[j]) == pytest.approx(expected, abs=2 / 255), (j, i)
    # one colorbar for two maps on the same scale; none for the first
    first = plots.plot_heatmap(ax2, x, y, rate, colorbar=False, vmin=0.5, vmax=1.0)
    assert first.colorbar is None and first.optimum is None
    assert len(fig.axes) == 3


def test_plot_heatmap_shared_colorbar_and_restyled_optimum():
    fig, axes = _axes(2)
    x, y = np.arange(3.0), np.arange(2.0)
    heat = plots.plot_heatmap(axes[1], x, y, np.ones((2, 3)), colorbar_kw={"ax": list(axes), "shrink": 0.9},
                              colorbar_label="ρ", optimum=(1.0, 1.0), optimum_kw={"ms": 9, "color": "red"})
    assert heat.colorbar is not None and heat.optimum.get_markersize() == 9
    assert to_rgba(heat.optimum.get_color()) == to_rgba("red")
    fig.canvas.draw()


def test_plot_heatmap_rejects_bad_shapes():
    fig, ax = _axes()
    with pytest.raises(ValueError, match="Invalid values shape"):
        plots.plot_heatmap(ax, np.arange(3), np.arange(2), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="Invalid mask shape"):
        plots.plot_heatmap(ax, np.arange(3), np.arange(2), np.zeros((2, 3)), mask=np.zeros((3, 2), bool))


# ------------------------------------------------------------------------------------ fields and basins


def test_plot_gradient_field_points_downhill():
    fig, ax = _axes()
    surface = get("two_minima")
    plots.plot_surface(ax, surface)
    q = plots.plot_gradient_field(ax, surface, n=(9, 5), inset=0.15, length=0.2)
    assert isinstance(q, Quiver) and q.N == 45
    xy = q.XY
    (x0, x1), (y0, y1) = surface.bounds
    assert xy[:, 0].min() == pytest.approx(x0 + 0.15) and xy[:, 1].max() == pytest.approx(y1 - 0.15)
    uv = np.column_stack([q.U, q.V])
    g = surface.grad(xy)
    moving = np.linalg.norm(g, axis=1) > 0
    np.testing.assert_allclose(np.linalg.norm(uv[moving], axis=1), 0.2)
    np.testing.assert_allclose(uv[moving], -0.2 * g[moving] / np.linalg.norm(g[moving], axis=1, keepdims=True))
    fig.canvas.draw()


def test_plot_gradient_field_unnormalized_and_zero_gradient():
    fig, ax = _axes()
    surface = get("saddle")  # the grid's middle point is the saddle (0, 0): no arrow there
    q = plots.plot_gradient_field(ax, surface, n=5, bounds=((-1, 1), (-1, 1)), normalize=False, length=0.3)
    uv = np.column_stack([q.U, q.V])
    norms = np.linalg.norm(uv, axis=1)
    assert norms.max() == pytest.approx(0.3)
    assert norms[12] == 0.0 and np.all(np.isfinite(uv))
    g = surface.grad(q.XY)
    np.testing.assert_allclose(uv, -0.3 * g / np.linalg.norm(g, axis=1).max())
    with pytest.raises(ValueError, match="Invalid n"):
        plots.plot_gradient_field(ax, surface, n=(1, 5))
    with pytest.raises(ValueError, match="Invalid length"):
        plots.plot_gradient_field(ax, surface, length=0.0)


def test_plot_basins_one_entry_per_group():
    fig, ax = _axes()
    starts = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    left = starts[:, 0] == 0.0
    lines = plots.plot_basins(ax, starts, {"left": left, "right": ~left, "nowhere": np.zeros(4, bool)},
                              colors=["C2", "C1"], zorder=3, ms=5)
    assert [line.get_label() for line in lines] == ["left", "right", "nowhere"]
    np.testing.assert_array_equal(np.column_stack(lines[0].get_data()), starts[left])
    assert lines[2].get_xdata().size == 0
    assert [to_rgba(line.get_color()) for line in lines] == [to_rgba("C2"), to_rgba("C1"), to_rgba("C2")]
    assert all(line.get_linestyle() == "None" and line.get_zorder() == 3 and line.get_markersize() == 5
               for line in lines)
    with pytest.raises(ValueError, match="Invalid mask shape"):
        plots.plot_basins(ax, starts, {"bad": np.ones(3, bool)})
    fig.canvas.draw()


def test_helpers_are_exported_from_lib_viz():
    for name in ("band_bounds", "plot_band", "plot_basins", "plot_gradient_field", "plot_heatmap"):
        assert getattr(lib.viz, name) is getattr(plots, name) and name in lib.viz.__all__


def test_the_smallest_figure_text_is_a_named_constant_above_the_captions():
    sizes = [v for k, v in plots.STYLE.items() if k.endswith("size")]
    assert min(sizes) == plots.MIN_TEXT_PT and "MIN_TEXT_PT" in plots.__all__
    assert plots.MIN_TEXT_PT * plots.STYLE["figure.dpi"] / 72 >= 14.0  # px at natural size, the 14-px captions
