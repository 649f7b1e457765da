"""lib.viz: explorer declarations, the shared preparation and encoding, both renderings, the plot helpers."""

from __future__ import annotations

import itertools
import json
import math
import re
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pytest

from lib import schedules
from lib.viz import (
    BOOK_BUILD_ENV,
    Contour,
    Control,
    Explorer,
    Frame,
    Label,
    Line,
    Markers,
    Panel,
    View,
    curve_explorer,
    optimizer_explorer,
    plots,
    quadratic_explorer,
)
from lib.viz.codec import Q, decode, encode_item, simplify
from lib.viz.figure import MIN_TEXT_PX, RC, SHOWN_WIDTH_PX, draw_view, min_text_pt, new_figure, text_rc
from lib.viz.geometry import CLIP, prepare
from lib.viz.legibility import smallest_text_pt
from lib.viz.static import compact_svg


def _schedules() -> Explorer:
    def curves(decay, lr0):
        t = np.arange(0, 51)
        s = schedules.inverse_time(lr0, decay)
        return Frame([Line(t, s(t), color=plots.PALETTE[0], label="inverse time"),
                      Line(t, schedules.exponential(lr0, 1 - decay)(t), color=plots.PALETTE[1], label="exponential"),
                      Label(50, s(50), f"{s(50):.3f}", ha="right", va="bottom")],
                     text=[f"η_50 = {s(50):.4f}"])

    return curve_explorer("schedules", {"decay": Control((0.01, 0.1, 0.3), label="decay rate"),
                                        "lr0": Control((0.1, 1.0), label="η₀")}, curves,
                          xlabel="epoch t", ylabel="η_t")


STANDARD = {
    "optimizer": lambda: optimizer_explorer(surfaces=("quadratic", "rosenbrock", "saddle"),
                                            etas=(0.001, 0.03, 1.0), hparams={"beta": (0.0, 0.9)}, steps=(10, 40)),
    "taylor": lambda: quadratic_explorer(surfaces=("saddle", "monkey_saddle", "lee_network"), points=5),
    "curves": _schedules,
}


def _parabola(name: str = "parabola") -> Explorer:
    """GD on f(θ) = θ²/2: small, with a fixed background, markers, labels, a divergence and a log panel."""

    def view(lam):
        theta = np.linspace(-3, 3, 61)
        return View([Line(theta, 0.5 * lam * theta**2, color="0.5", label="f(θ)")],
                    panels={"curve": {"title": f"λ = {lam:g}"}})

    def compute(lam, eta):
        theta = 2.0 * (1 - eta * lam) ** np.arange(21)
        loss = 0.5 * lam * theta**2
        items = [Line(theta, loss, color="C0", marker="o", markersize=3, label="iterates", panel="curve"),
                 Line(np.arange(21), loss, color="C0", panel="loss"),
                 Label(0.02, 0.95, f"η = {eta:g}", coords="axes", va="top", panel="curve")]
        if abs(1 - eta * lam) > 1:
            items.append(Markers([theta[-1]], [loss[-1]], color="red", marker="X", clamp=True, label="diverged",
                                 panel="curve"))
        return Frame(items, text=[f"final loss {loss[-1]:.3g}"])

    return Explorer(name, {"lam": Control((1.0, 2.0), label="curvature λ"),
                           "eta": Control((0.1, 0.5, 1.2), label="learning rate η", unit="")}, compute,
                    panels=(Panel("curve", xlabel="θ", ylabel="f", xlim=(-3, 3), ylim=(0, 9)),
                            Panel("loss", xlabel="step", ylabel="f(θ_t)", yscale="log")),
                    view=view, view_controls=("lam",), caption="Gradient descent on a parabola.")


@pytest.fixture(scope="module")
def parabola() -> Explorer:
    return _parabola()


# ------------------------------------------------------------------------------------------------- the sweep


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("which", sorted(STANDARD))
def test_every_combination_of_every_standard_explorer_renders_without_warning(which):
    explorer = STANDARD[which]()
    payload = explorer.payload()  # computes every combination, every view, the whole static encoding
    n = math.prod(explorer.shape)
    assert len(payload["index"]) == n
    assert len(payload["views"]) == math.prod(len(explorer.controls[k].values) for k in explorer.view_controls)
    for view in payload["views"]:
        assert view["svg"].startswith("<svg") and "viewBox" in view["svg"]
        for x, y, w, h in view["boxes"]:
            assert 0 <= x and 0 <= y and w > 20 and h > 20
            assert x + w <= payload["size"][0] + 1e-6 and y + h <= payload["size"][1] + 1e-6
    for indices in explorer.combinations():
        items = decode(payload, indices)
        assert items, f"{which} {indices}: nothing drawn"
        for item in items:
            for run in item.get("runs", ()):
                assert np.isfinite(run).all()
                assert (run >= -Q * CLIP - 1).all() and (run <= Q * (1 + CLIP) + 1).all()
    if which == "optimizer":
        texts = [" ".join(frame["t"]) for frame in payload["frames"]]
        assert any("diverged at step" in t for t in texts), "the sweep should contain a diverging setting"
        assert all("after" in t for t in texts)
    json.dumps(payload)  # JSON-ready


# ---------------------------------------------------------------------------------------------- declaration


def test_control_validation_and_readouts():
    with pytest.raises(ValueError, match="Invalid values"):
        Control(())
    with pytest.raises(ValueError, match="distinct"):
        Control((1, 1))
    with pytest.raises(ValueError, match="mixed"):
        Control((1, "a"))
    with pytest.raises(ValueError, match="finite"):
        Control((1.0, math.inf))
    with pytest.raises(ValueError, match="Invalid default"):
        Control((1, 2), default=3)
    c = Control((-0.5, 0.25), unit="s", format=".2f")
    assert c.numeric and c.text(-0.5) == "−0.50 s"
    assert Control(("gd", "adam"), format={"gd": "GD", "adam": "Adam"}).text("adam") == "Adam"
    assert Control((True, False), format={True: "on", False: "off"}).numeric is False
    assert Control(np.array([1.0, 2.0])).values == (1.0, 2.0)


def test_explorer_validation_names_the_argument():
    frame = lambda **v: Frame()  # noqa: E731
    with pytest.raises(ValueError, match="Invalid name"):
        Explorer("Bad Name", {"a": (1, 2)}, frame)
    with pytest.raises(ValueError, match="Invalid view_controls"):
        Explorer("x", {"a": (1, 2)}, frame, view_controls=("b",))
    with pytest.raises(ValueError, match="Invalid panels"):
        Explorer("x", {"a": (1, 2)}, frame, panels=(Panel("p"), Panel("p")))
    with pytest.raises(ValueError, match="Invalid width_ratios"):
        Explorer("x", {"a": (1, 2)}, frame, width_ratios=(1, 2))
    with pytest.raises(ValueError, match="Invalid ylim"):
        Panel("p", yscale="log", ylim=(0, 1))
    with pytest.raises(ValueError, match="Invalid xscale"):
        Panel("p", xscale="symlog")
    with pytest.raises(ValueError, match="Invalid style"):
        Line([0, 1], [0, 1], style="~")
    with pytest.raises(ValueError, match="Invalid color"):
        Markers([0], [0], color="notacolor")
    with pytest.raises(ValueError, match="Invalid x, y"):
        Line([0, 1], [0, 1, 2])
    with pytest.raises(ValueError, match="Invalid levels"):
        Contour([0, 1], [0, 1], np.zeros((2, 2)), [2, 1])
    bad = Explorer("x", {"a": (1, 2)}, lambda a: "not a frame")
    with pytest.raises(ValueError, match="expected Frame"):
        bad.frame(a=1)
    wrong_panel = Explorer("x", {"a": (1, 2)}, lambda a: Frame([Line([0, 1], [0, 1], panel="nope")]))
    with pytest.raises(ValueError, match="Invalid panel"):
        wrong_panel.frame(a=1)
    with pytest.raises(ValueError, match="Invalid a"):
        wrong_panel.frame(a=3)
    override = Explorer("x", {"a": (1, 2)}, frame, view=lambda a: View(panels={"main": {"colour": 1}}),
                        view_controls=("a",))
    with pytest.raises(ValueError, match="Invalid panel override"):
        override.payload()


# --------------------------------------------------------------------------------------- prepare and encode


SPEC = [{"xlim": (-1.0, 1.0), "ylim": (-1.0, 1.0), "xscale": "linear", "yscale": "linear"},
        {"xlim": (0.0, 10.0), "ylim": (1e-3, 1e3), "xscale": "linear", "yscale": "log"}]


def test_a_diverging_path_is_clipped_at_the_box_edge_in_its_own_direction():
    frame = Frame([Line([0.0, 0.5, 1e6], [0.0, 0.25, 5e5])])
    (item,) = prepare(frame, SPEC, ["a", "b"])
    (run,) = item.runs
    assert run[0] == pytest.approx([0.5, 0.5])
    assert run[1] == pytest.approx([0.75, 0.625])
    end = run[-1]
    assert end[0] == pytest.approx(1 + CLIP)  # leaves through the right edge of the clip box
    direction = (end - run[1]) / np.linalg.norm(end - run[1])
    assert direction == pytest.approx(np.array([2.0, 1.0]) / math.sqrt(5), abs=1e-6)


def test_log_axis_cuts_lines_at_non_positive_values_and_markers_can_be_clamped():
    frame = Frame([Line([0, 1, 2, 3, 4], [1, 10, 0, 100, 1000], panel="b"),
                   Markers([20.0, 5.0], [1e9, 1e-9], clamp=True, panel="b"),
                   Markers([20.0], [1.0], panel="b")])
    line, clamped, clipped = prepare(frame, SPEC, ["a", "b"])
    assert [len(r) for r in line.runs] == [2, 2]
    assert line.runs[0][:, 1] == pytest.approx([0.5, 4 / 6])
    assert clamped.runs[0] == pytest.approx(np.array([[1.0, 1.0], [0.5, 0.0]]))
    assert clipped.runs == ()  # a marker far outside, not clamped, is not drawn


def test_simplification_keeps_the_turning_points_of_an_oscillation():
    # GD with eta > 1/lam oscillates along one line: every point lies on the chord, none may be dropped
    x = np.array([0, 1000, -800, 640, -512, 410, 0], dtype=np.int64)
    pts = np.column_stack((x + 5000, np.full_like(x, 5000)))
    assert simplify(pts, 5.0).all()
    straight = np.column_stack((np.arange(0, 1000, 10), np.arange(0, 1000, 10) * 2))
    assert simplify(straight, 5.0).sum() == 2
    # ... but a line with a marker at every vertex keeps every vertex
    frame = Frame([Line([0.0, 0.2, 0.4, 0.4, 0.6], [0.0, 0.1, 0.2, 0.2, 0.3]),
                   Line([0.0, 0.2, 0.4, 0.4, 0.6], [0.0, 0.1, 0.2, 0.2, 0.3], marker="o")])
    plain, marked = (encode_item(p, 0, 100) for p in prepare(frame, SPEC, ["a", "b"]))
    assert len(plain["r"][0][0]) == 2 and len(marked["r"][0][0]) == 4  # the repeated vertex is drawn once


def test_decode_inverts_the_encoding(parabola):
    explorer = parabola
    payload = explorer.payload()
    for indices in explorer.combinations():
        values = explorer.values(indices)
        key = explorer.view_key(indices)
        view = explorer.make_view(key)
        members = [explorer.frame(**explorer.values(c)) for c in explorer.combinations()
                   if explorer.view_key(c) == key]
        specs = explorer.resolve(view, lambda members=members: members)
        prepared = prepare(explorer.frame(**values), specs, explorer.names, min_text_pt(explorer.figsize[0]))
        decoded = decode(payload, indices)
        assert [d["kind"] for d in decoded] == [p.kind for p in prepared]
        for d, p in zip(decoded, prepared, strict=True):
            if p.kind == "t":
                assert d["text"] == p.text and d["at"] == (round(p.runs[0][0] * Q), round(p.runs[0][1] * Q))
                continue
            for got, want in zip(d["runs"], p.runs, strict=True):
                want = want * Q
                assert got[0] == pytest.approx(want[0], abs=0.51) and got[-1] == pytest.approx(want[-1], abs=0.51)
                # every drawn vertex is one of the computed ones (simplification only drops vertices)
                distance = np.abs(got[:, None, :] - want[None, :, :]).max(axis=2).min(axis=1)
                assert distance.max() <= 0.51
    with pytest.raises(ValueError, match="Invalid indices"):
        decode(payload, (5, 0))


def test_evenly_spaced_x_is_stored_as_start_and_step(parabola):
    loss_items = [it for frame in parabola.payload()["frames"] for it in frame["i"] if it["p"] == 1]
    assert loss_items and all(isinstance(run[0], dict) for it in loss_items for run in it["r"])


def test_identical_frames_are_stored_once():
    explorer = optimizer_explorer(surfaces=("quadratic",), rules=("gd", "momentum"), etas=(0.1, 0.3),
                                  hparams={"beta": (0.0, 0.5, 0.9)}, steps=10)
    payload = explorer.payload()
    index = np.array(payload["index"]).reshape(explorer.shape)
    gd = explorer.controls["rule"].values.index("gd")
    assert (index[0, gd, :, :1] == index[0, gd, :, :, 0][..., None]).all()  # β does not change GD
    assert len(payload["frames"]) < len(payload["index"])


def test_auto_limits_cover_every_frame_of_the_view():
    def compute(k):
        return Frame([Line([0, 1], [0, k])])

    explorer = Explorer("auto", {"k": (1.0, 3.0)}, compute)
    view = explorer.make_view(())
    (spec,) = explorer.resolve(view, lambda: [compute(1.0), compute(3.0)])
    assert spec["ylim"] == pytest.approx((-0.15, 3.15))
    assert spec["xlim"] == pytest.approx((-0.05, 1.05))


# -------------------------------------------------------------------------------------------------- static


def test_static_html_is_self_contained_and_labelled(parabola):
    explorer = parabola
    page = explorer.static_html()
    assert 'data-explorer="parabola"' in page
    data = re.search(r'<script type="application/json" class="lx-data">(.*?)</script>', page, re.S).group(1)
    payload = json.loads(data.replace("<\\/", "</"))
    assert payload["name"] == "parabola" and payload["shape"] == [2, 3]
    for k, control in explorer.controls.items():
        cid = re.search(rf'<label for="([^"]+-{k})">{re.escape(control.label)}</label>', page).group(1)
        assert f'id="{cid}"' in page
    assert 'type="range"' in page and "aria-valuetext=" in page
    assert "window.libExplorer" in page and ".lx-plot" in page  # the viewer's JS and CSS are inlined
    # the plot sits in a box that scrolls sideways on a phone and that a keyboard can reach
    assert re.search(r'<div class="lx-scroll" tabindex="0"><div class="lx-plot"', page)
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page
    assert "<figcaption>Gradient descent on a parabola.</figcaption>" in page


def test_book_build_displays_static_html_and_a_kernel_displays_widgets(monkeypatch, parabola):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    explorer = parabola
    monkeypatch.setenv(BOOK_BUILD_ENV, "1")
    explorer._ipython_display_()
    monkeypatch.delenv(BOOK_BUILD_ENV)
    explorer._ipython_display_()
    assert isinstance(shown[0], IPython.display.HTML) and "data-explorer" in shown[0].data
    import ipywidgets

    assert isinstance(shown[1], ipywidgets.VBox)


# ---------------------------------------------------------------------------------------------------- live


def _line_data(live):
    return [np.column_stack(a.get_data()).copy() for pool in live._pools.values() for a in pool
            if a.get_visible() and hasattr(a, "get_data")]


def test_live_controls_update_the_same_figure_in_place(parabola):
    live = parabola.live()
    live.controls["lam"].value = 2.0
    figure, image, n_axes = live.figure, bytes(live.image.value), len(live.figure.axes)
    before = _line_data(live)
    live.controls["eta"].value = 1.2
    after = _line_data(live)
    assert live.figure is figure and len(live.figure.axes) == n_axes
    assert bytes(live.image.value) != image and bytes(live.image.value).startswith(b"\x89PNG")
    assert len(after) == len(before) + 1  # the divergence marker
    assert all(not np.array_equal(a, b) for a, b in zip(before, after, strict=False))
    assert "diverged" in live.legend.value and "f(θ)" in live.legend.value
    live.controls["lam"].value = 1.0  # the other view: its cached background
    live.controls["eta"].value = 0.1
    artists = sum(len(pool) for pool in live._pools.values())
    for eta in (0.5, 1.2, 0.1, 0.5):
        live.controls["eta"].value = eta
    assert sum(len(pool) for pool in live._pools.values()) == artists  # artists are reused, not added
    assert "final loss" in live.text.value
    assert len(live.timings) == 9


def test_live_optimizer_explorer_reacts_to_every_control():
    explorer = STANDARD["optimizer"]()
    live = explorer.live()
    live.set(rule="momentum")  # a rule that uses every control; the rule itself is moved last
    for name in sorted(explorer.controls, key=lambda k: k == "rule"):
        control = explorer.controls[name]
        for value in (control.values[-1], control.values[0]):
            data, png, text = _line_data(live), bytes(live.image.value), live.text.value
            if live.controls[name].value == value:
                continue
            live.controls[name].value = value
            changed = (len(data) != len(_line_data(live))
                       or any(not np.array_equal(a, b) for a, b in zip(data, _line_data(live), strict=True)))
            assert changed or text != live.text.value, f"{name}={value} changed nothing"
            assert bytes(live.image.value) != png
    live.set(surface="rosenbrock", rule="gd", eta=1.0)
    assert "diverged at step" in live.text.value


def test_live_and_static_draw_the_same_numbers(parabola):
    explorer = parabola
    payload = explorer.payload()
    live = explorer.live()
    live.set(lam=2.0, eta=0.5)
    indices = live.indices()
    drawn = [a for pool in live._pools.values() for a in pool if a.get_visible()]
    static = decode(payload, indices)
    for item in static:
        if item["kind"] == "t":
            assert any(getattr(a, "get_text", lambda: None)() == item["text"] for a in drawn)
            continue
        if not item["runs"]:  # e.g. a loss of exactly 0 on a log axis: nothing to draw in either rendering
            continue
        points = np.concatenate(item["runs"]) / Q
        assert any(
            hasattr(a, "get_data") and len(a.get_data()[0]) >= len(points)
            and np.abs(np.column_stack(a.get_data())[:, None, :] - points[None]).max(axis=2).min(axis=0).max()
            <= 0.51 / Q
            for a in drawn
        ), item


# --------------------------------------------------------------------------------------------------- plots


@pytest.mark.filterwarnings("error")
def test_plot_helpers_draw_surfaces_paths_and_divergence():
    from matplotlib.figure import Figure

    from lib.surfaces import SURFACES
    from lib.trajectories import run

    s = SURFACES["rosenbrock"]
    traj = run("gd", s, s.starts, 30, eta=0.01)
    assert (traj.diverged_at >= 0).any()
    fig = Figure()
    ax1, ax2 = fig.subplots(1, 2)
    plots.plot_surface(ax1, s, legend=True)
    plots.plot_trajectories(ax1, traj, labels=[f"start {i}" for i in range(len(s.starts))])
    plots.plot_loss(ax2, traj, loss_min=0.0)
    plots.plot_curves(fig.add_subplot(2, 2, 4), {"a": ([0, 1], [1, 2])}, xlabel="t")
    fig.canvas.draw()
    crosses = [line for line in ax1.lines if line.get_marker() == "X"]
    assert len(crosses) == int((traj.diverged_at >= 0).sum())
    (x0, x1), (y0, y1) = ax1.get_xlim(), ax1.get_ylim()
    for line in crosses:
        (x,), (y,) = line.get_data()
        assert x0 <= x <= x1 and y0 <= y <= y1
    assert ax2.get_yscale() == "log"
    levels = plots.contour_levels(plots.surface_grid(s, 41)[2])
    assert np.all(np.diff(levels) > 0)
    assert plots.DIVERGED not in plots.PALETTE
    with pytest.raises(ValueError, match="Invalid n"):
        plots.surface_grid(s, 1)


def test_background_keeps_tick_labels_exact():
    svg = '<svg width="10" height="10"><path d="M 1.23456 7.891"/><text x="3.14159">0.05</text></svg>'
    compact = compact_svg(svg)
    assert ">0.05<" in compact and 'd="M 1.2 7.8"' in compact and 'x="3.1"' in compact


def test_settings_a_rule_ignores_are_computed_once(monkeypatch):
    import lib.viz.explorers as explorers

    calls = []
    real_run = explorers.run
    monkeypatch.setattr(explorers, "run", lambda rule, *a, **k: calls.append(rule) or real_run(rule, *a, **k))
    explorer = optimizer_explorer(surfaces=("quadratic",), rules=("gd", "adam"), etas=(0.1,),
                                  hparams={"beta": (0.0, 0.9), "beta2": (0.99, 0.999)}, steps=10)
    gd = [explorer.frame(surface="quadratic", rule="gd", eta=0.1, beta=b, beta2=b2, steps=10)
          for b in (0.0, 0.9) for b2 in (0.99, 0.999)]
    adam = {explorer.frame(surface="quadratic", rule="adam", eta=0.1, beta=b, beta2=b2, steps=10).text[0]
            for b in (0.0, 0.9) for b2 in (0.99, 0.999)}
    assert all(frame is gd[0] for frame in gd) and calls.count("gd") == 1
    assert "β₂" not in gd[0].text[0] and "not used by" in gd[0].text[1]
    assert len(adam) == 4 and calls.count("adam") == 4


# ----------------------------------------------------------------------------------------------- legibility


def _wide() -> Explorer:
    """Three panels, 11 inches wide: a view label, text added by the view's own ``draw``, a log axis."""

    def view(k):
        def draw(axes):
            axes["c"].text(0.5, 0.5, f"k = {k}", transform=axes["c"].transAxes)

        return View([Label(0.1, 0.9, "fixed note", coords="axes", panel="a")], draw=draw,
                    panels={"b": {"title": f"panel b, k = {k}"}})

    def compute(k):
        t = np.arange(1, 50)
        return Frame([Line(t, t ** -k, color="C0", panel=p) for p in ("a", "b", "c")])

    return Explorer("wide", {"k": Control((0.5, 1.0))}, compute, view=view, view_controls=("k",),
                    panels=(Panel("a", xlabel=r"step $t$", ylabel=r"$\|\delta_l\|$", yscale="log"),
                            Panel("b", xlabel="step t"), Panel("c", xlabel="step t", ylabel="value")),
                    figsize=(11.0, 3.7))


def _shown_px(svg: str, width_pt: float) -> list[float]:
    """The size in CSS px of every text of a background SVG (mathtext's characters at their own size, so
    sub- and superscripts are left out: they are a step smaller on purpose) when the plot is shown
    ``SHOWN_WIDTH_PX`` wide, as at a 1280-px viewport."""
    sizes = re.findall(r'<text [^>]*style="font-size: ([\d.]+)px', svg)
    return [float(size) * SHOWN_WIDTH_PX / width_pt for size in sizes]


@pytest.mark.parametrize("which", [*sorted(STANDARD), "parabola", "wide"])
def test_explorer_text_shows_at_least_as_large_as_the_captions(which):
    explorer = {"parabola": _parabola, "wide": _wide, **STANDARD}[which]()
    payload = explorer.payload()
    for view in payload["views"]:
        shown = _shown_px(view["svg"], payload["size"][0])
        assert len(shown) >= 4, "tick labels, axis labels and titles are SVG text"
        assert min(shown) >= MIN_TEXT_PX - 1e-6, f"{which}: text at {min(shown):.1f} px"
    # the figure both renderings draw, measured as the book's figures are (mathtext at its base size)
    for key in {explorer.view_key(c) for c in explorer.combinations()}:
        view = explorer.make_view(key)
        members = [explorer.frame(**explorer.values(c)) for c in explorer.combinations() if explorer.view_key(c) == key]
        with mpl.rc_context(RC):
            fig, axes = new_figure(explorer)
            draw_view(axes, view, explorer.resolve(view, lambda members=members: members))
        shown = smallest_text_pt(fig) * SHOWN_WIDTH_PX / (72 * explorer.figsize[0])
        assert shown >= MIN_TEXT_PX - 1e-6, f"{which}: text at {shown:.1f} px"


@pytest.mark.parametrize("which", ["curves", "parabola"])
def test_labels_of_a_frame_show_at_least_as_large_as_the_captions(which):
    explorer = {"parabola": _parabola, **STANDARD}[which]()
    sizes = [style["fs"] for style in explorer.payload()["styles"] if style["k"] == "t"]
    assert sizes and min(sizes) * SHOWN_WIDTH_PX / (72 * explorer.figsize[0]) >= MIN_TEXT_PX


def test_a_label_is_drawn_at_least_at_the_explorers_text_size():
    spec = {"xlim": (0.0, 1.0), "ylim": (0.0, 1.0), "xscale": "linear", "yscale": "linear"}
    frame = Frame([Label(0.5, 0.5, "default"), Label(0.5, 0.5, "large", size=20.0), Label(0.5, 0.5, "small", size=8.0)])
    assert [p.style["fs"] for p in prepare(frame, [spec], [None], text_pt=12.5)] == [12.5, 20.0, 12.5]
    with pytest.raises(ValueError, match="Invalid text_pt"):
        prepare(frame, [spec], [None])


def test_text_sizes_follow_the_width_and_match_the_page_captions():
    css = (Path(__file__).resolve().parents[1] / "_assets" / "book.css").read_text()
    caption_rem = float(re.search(r"\.bd-article figcaption \{ font-size: ([\d.]+)rem", css).group(1))
    assert MIN_TEXT_PX == caption_rem * 16
    # the explorer card's own text (controls, legend, readout, caption): em sizes are of the card's 0.9rem
    lib_dir = Path(__file__).resolve().parents[1] / "lib"
    for source in (lib_dir / "static" / "explorer.css", lib_dir / "viz" / "static.py"):
        for value, unit in re.findall(r"font-size: ?([\d.]+)(rem|em)", source.read_text()):
            assert float(value) * (0.9 if unit == "em" else 1.0) >= caption_rem, f"{source.name}: {value}{unit}"
    for width in (5.0, 6.4, 7.5, 8.0, 11.0):
        rc = text_rc(width)
        assert min(rc.values()) == min_text_pt(width)
        assert min_text_pt(width) * SHOWN_WIDTH_PX / (72 * width) >= MIN_TEXT_PX
        assert min_text_pt(width) * SHOWN_WIDTH_PX / (72 * width) < MIN_TEXT_PX + 0.2  # no larger than needed
        assert rc["axes.labelsize"] >= rc["xtick.labelsize"] and rc["axes.titlesize"] >= rc["xtick.labelsize"]


def _slices(frame) -> tuple[list, list]:
    lines = [i for i in frame.items if isinstance(i, Line) and i.panel == "slices"]
    ticks = [i for i in frame.items if isinstance(i, Label) and i.panel == "slices"]
    return lines, ticks


def test_taylor_slices_fill_their_panel_at_every_point():
    """The slices panel keeps a fixed frame (±1.08 of a per-point scale, the tick labels in the frame): at every
    point its curves fill between half and all of it, and the tick labels give their true values."""
    explorer = quadratic_explorer(surfaces=("saddle", "lee_network", "monkey_saddle", "two_minima"), points=5)
    for surface in ("saddle", "lee_network", "monkey_saddle", "two_minima"):
        view = explorer.make_view(explorer.view_key((explorer.controls["surface"].values.index(surface), 0, 0)))
        (spec,) = [s for s in explorer.resolve(view, lambda: ()) if s["ylabel"].startswith("L(θ′")]
        assert spec["ylim"] == (-1.08, 1.08)
        for x in explorer.controls["x"].values:
            for y in explorer.controls["y"].values:
                lines, ticks = _slices(explorer.frame(surface=surface, x=x, y=y))
                top = max(float(np.max(np.abs(line.y))) for line in lines)
                scale = float(ticks[-1].text.replace("−", "-"))
                assert [t.text for t in ticks][2] == "0" and ticks[-1].y > ticks[0].y
                if top * scale > 1e-9:  # not a flat slice
                    assert 0.5 <= top <= 1.0 + 1e-9, (surface, x, y, top)
    # the saddle at its origin: L(t v) − L(0) = ±t², drawn ÷ its scale
    lines, ticks = _slices(explorer.frame(surface="saddle", x=0.0, y=0.0))
    scale = float(ticks[-1].text)
    np.testing.assert_allclose(sorted(float(np.max(line.y * scale)) for line in lines),
                               sorted([0.0, 0.0, float(lines[0].x[-1]) ** 2, float(lines[0].x[-1]) ** 2]), atol=1e-9)


def test_surface_panels_are_labelled_with_the_surfaces_parameters():
    explorers = (optimizer_explorer(surfaces=("quadratic", "lee_network"), etas=(0.1,), hparams={}, steps=5),
                 quadratic_explorer(surfaces=("saddle", "lee_network"), points=3))
    for explorer in explorers:
        labels = {}
        for i, surface in enumerate(explorer.controls["surface"].values):
            spec = explorer.resolve(explorer.make_view((i,)), lambda: ())[0]
            labels[surface] = (spec["xlabel"], spec["ylabel"])
        assert labels["lee_network"] == ("w₁", "w₂") and set(labels.values()) >= {("θ₁", "θ₂")}


def test_loss_panel_reaches_down_to_a_fast_run():
    """RMSProp on an axis-aligned ravine gets below 1e-8 within ten steps: the loss panel goes lower (at most 20
    decades below its top), so that the run stays visible for more than a few steps; a slow surface keeps 1e-8."""
    import dataclasses

    from lib.surfaces import get, quadratic

    ravine = dataclasses.replace(quadratic(kappa=100.0, angle=math.pi / 2), starts=((-1.8, 0.9),))
    explorer = optimizer_explorer(surfaces={"ravine": ravine, "rosenbrock": get("rosenbrock")},
                                  rules=("rmsprop", "adagrad"), etas=(0.1,), hparams={}, steps=200)
    specs = explorer.resolve(explorer.make_view((0,)), lambda: ())
    low, top = specs[1]["ylim"]
    assert top * 1e-20 <= low <= 1e-17
    gap = next(i for i in explorer.frame(surface="ravine", rule="rmsprop", eta=0.1, steps=200).items
               if isinstance(i, Line) and i.panel == "loss").y
    assert gap[10] < 1e-8 and int(np.sum(gap >= low)) >= 20
    assert explorer.resolve(explorer.make_view((1,)), lambda: ())[1]["ylim"][0] == pytest.approx(1e-8)
    text = " ".join(explorer.frame(surface="ravine", rule="rmsprop", eta=0.1, steps=200).text)
    assert "e0 " not in text + " " and "0.00e" not in text


def _overlapping_texts(live, tolerance_px: float = 3.0) -> list[tuple[str, str]]:
    """Pairs of visible, non-empty texts of the live figure (ticks, labels, titles, a frame's labels) whose boxes
    overlap by more than ``tolerance_px`` both ways: text that runs together."""
    from matplotlib.text import Text

    figure = live.figure
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    texts = []
    for t in figure.findobj(Text):
        if not (t.get_visible() and t.get_text().strip()):
            continue
        ax = t.axes
        for ticks, (lo, hi), v in ((ax.get_xticklabels(), ax.get_xlim(), t.get_position()[0]),
                                   (ax.get_yticklabels(), ax.get_ylim(), t.get_position()[1])) if ax else ():
            if t in ticks and not min(lo, hi) - 1e-9 <= v <= max(lo, hi) + 1e-9:
                break  # a tick outside the view: matplotlib does not draw it
        else:
            texts.append((t.get_text(), t.get_window_extent(renderer)))
    bad = []
    for i, (a, box_a) in enumerate(texts):
        for b, box_b in texts[i + 1:]:
            ox = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
            oy = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
            if ox > tolerance_px and oy > tolerance_px:
                bad.append((a, b))
    return bad


@pytest.mark.parametrize("which", ["optimizer", "taylor", "turned"])
def test_no_text_of_an_explorer_runs_into_another(which):
    """Tick labels, axis labels, titles and a frame's own tick labels (the Taylor slices) never overlap, in any
    view, at the default setting: e.g. a long surface title over the top tick label, or ticks run together."""
    import math as _math

    from lib.surfaces import quadratic

    make = {**STANDARD, "turned": lambda: optimizer_explorer(
        surfaces={"turned": quadratic(kappa=10.0, angle=_math.pi / 6), "plain": quadratic(kappa=100.0)},
        rules=("gd",), etas=(0.3,), hparams={}, steps=20)}[which]
    explorer = make()
    live = explorer.live()
    for surface in explorer.controls["surface"].values:
        live.set(surface=surface)
        assert _overlapping_texts(live) == [], surface


def test_tick_labels_never_run_together():
    """matplotlib spaces ticks by three font sizes, whatever the labels' width: on a panel about 25 font sizes
    wide, -1 … 1 got ticks every 0.25 and "−1.00−0.75−0.50" touched. The explorers' locator keeps them apart."""
    from lib.viz.figure import SpacedLocator

    explorer = Explorer("ticks", {"k": Control((1.0,))}, lambda k: Frame([Line([-1, 1], [0, k], panel="z")]),
                        panels=(Panel("a", xlim=(0.0, 100.0), ylim=(0.0, 1.0), ylabel="loss"),
                                Panel("z", xlim=(-1.0, 1.0), ylim=(0.0, 1.0), ylabel="y")),
                        figsize=(8.0, 3.2), width_ratios=(1.0, 2.0))
    live = explorer.live()
    figure = live.figure
    figure.canvas.draw()
    for ax in live.axes.values():
        assert isinstance(ax.xaxis.get_major_locator(), SpacedLocator)
        lo, hi = ax.get_xlim()
        labels = [t for t in ax.get_xticklabels() if t.get_text() and lo - 1e-9 <= t.get_position()[0] <= hi + 1e-9]
        boxes = sorted((t.get_window_extent(figure.canvas.get_renderer()) for t in labels), key=lambda b: b.x0)
        em = labels[0].get_fontsize() * figure.dpi / 72
        assert len(labels) >= 3 and min(b.x0 - a.x1 for a, b in itertools.pairwise(boxes)) >= 0.5 * em


def test_a_title_wider_than_its_panel_is_wrapped_inside_the_figure():
    """Constrained layout centres a title over its panel and lets a wider one run off the figure (batch size's
    "Path over the contours of L(w, b)" began left of it); the explorers break such a title onto lines."""
    long_title = "Path over the contours of the loss L(w, b) from the same start"
    explorer = Explorer("titles", {"k": Control((1.0,))}, lambda k: Frame([Line([0, 1], [0, k], panel="b")]),
                        panels=(Panel("a", xlim=(-1.0, 3.0), ylim=(-1.0, 3.0), aspect="equal", title=long_title,
                                      xlabel="slope w", ylabel="intercept b"),
                                Panel("b", xlim=(0.0, 1.0), ylim=(0.0, 1.0), title="Loss gap (mean squared error)")),
                        figsize=(7.0, 3.0))
    figure = explorer.live().figure
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    titles = [ax.title for ax in figure.axes]
    assert titles[0].get_text().replace("\n", " ") == long_title and "\n" in titles[0].get_text()
    for ax in figure.axes:
        assert ax.title.get_window_extent(renderer).width <= ax.get_window_extent(renderer).width + 0.5
    width, height = figure.bbox.width, figure.bbox.height
    outside = [t.get_text() for ax in figure.axes for t in (ax.title, ax.xaxis.label, ax.yaxis.label)
               if (box := t.get_window_extent(renderer)).x0 < -1 or box.y0 < -1 or box.x1 > width + 1
               or box.y1 > height + 1]
    assert outside == []


def test_wrap_to_width_breaks_at_spaces_only_outside_mathtext():
    from lib.viz.figure import text_width_pt, wrap_to_width

    text = r"gradient norm $\|\partial \ell / \partial z_l\|$ of every layer"
    lines = wrap_to_width(text, text_width_pt("gradient norm", 12.0) + 1.0, 12.0).split("\n")
    assert lines[0] == "gradient norm" and r"$\|\partial \ell / \partial z_l\|$" in lines
    assert " ".join(lines) == text
    assert wrap_to_width("short", 500.0, 12.0) == "short"


def test_tick_labels_of_the_two_axes_never_meet_at_a_corner():
    """On a map whose axes both start at −2 the x and y labels "−2" met at the lower-left corner (2×3 px on the
    page); the y label gives way, its tick stays, and every other label is kept."""
    explorer = Explorer("corner", {"k": Control((1.0,))}, lambda k: Frame([Line([-1, 1], [0, k], panel="map")]),
                        panels=(Panel("map", xlim=(-2.0, 2.0), ylim=(-2.0, 2.0), aspect="equal",
                                      xlabel="w₁", ylabel="w₂"),
                                Panel("loss", xlim=(0.0, 100.0), ylim=(1e-6, 1.0), yscale="log")),
                        figsize=(7.0, 3.2))
    figure = explorer.live().figure
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    shown = {}
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            shown[axis] = [(t.get_loc(), t.label1) for t in axis.get_major_ticks()
                           if lo - 1e-9 <= t.get_loc() <= hi + 1e-9]
    map_ax = figure.axes[0]
    y_labels = {loc: label.get_text() for loc, label in shown[map_ax.yaxis]}
    assert y_labels[-2.0] == "" and all(text for loc, text in y_labels.items() if loc != -2.0)
    assert shown[map_ax.yaxis][0][0] == -2.0  # the tick itself stays
    assert all(label.get_text() for axis in (map_ax.xaxis, figure.axes[1].xaxis) for _, label in shown[axis])
    x_boxes = [label.get_window_extent(renderer) for ax in figure.axes for _, label in shown[ax.xaxis]]
    for ax in figure.axes:
        for _, label in shown[ax.yaxis]:
            if label.get_text():
                box = label.get_window_extent(renderer)
                assert not any(box.overlaps(b) for b in x_boxes), label.get_text()


def test_show_table_hides_row_numbers_and_shows_float_labels_briefly(monkeypatch):
    import IPython.display
    import pandas as pd

    from lib.viz import show_table

    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    show_table(pd.DataFrame({"loss": [0.5, 0.25]}), {"loss": "{:.2f}"})
    by_label = pd.DataFrame({"loss": [0.5, 0.25]}, index=pd.MultiIndex.from_tuples(
        [(0.9, "adam"), (0.999, "adam")], names=["β₂", "rule"]))
    show_table(by_label)
    plain, labelled = (styler.to_html() for styler in shown)
    assert ">0<" not in plain and ">1<" not in plain and "0.25" in plain
    assert ">0.9<" in labelled and ">0.999<" in labelled and "0.900000" not in labelled and ">adam<" in labelled
