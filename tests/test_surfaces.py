"""Oracle tests for lib.surfaces: derivatives vs finite differences and torch autograd, critical points."""

import math

import numpy as np
import pytest
import scipy.optimize
import torch

from lib.surfaces import SURFACES, CriticalPoint, Surface, get, lee_network, quadratic

CASES = {
    **SURFACES,
    "quadratic_rotated": quadratic(kappa=50.0, angle=0.7, lam_max=3.0),
    "lee_network_scaled": lee_network(x=2.0, y_hat=-1.5),
}
IDS = list(CASES)


def random_points(surface, n=200, seed=0):
    """Points inside the plotting window, widened by a quarter on each side."""
    rng = np.random.default_rng(seed)
    (x0, x1), (y0, y1) = surface.bounds
    wx, wy = (x1 - x0) / 4, (y1 - y0) / 4
    return np.stack([rng.uniform(x0 - wx, x1 + wx, n), rng.uniform(y0 - wy, y1 + wy, n)], axis=-1)


def central_difference(fn, xy, h):
    """d fn / d xy by central differences; fn maps (..., 2) to (...) or (..., 2); the result adds an axis."""
    cols = []
    for i in range(2):
        e = np.zeros(2)
        e[i] = h
        cols.append((fn(xy + e) - fn(xy - e)) / (2 * h))
    return np.stack(cols, axis=-1)


@pytest.mark.parametrize("name", IDS)
def test_gradient_and_hessian_match_finite_differences(name):
    s = CASES[name]
    xy = random_points(s)
    g, H = s.grad(xy), s.hessian(xy)
    g_fd = central_difference(s.value, xy, 1e-5)
    H_fd = central_difference(s.grad, xy, 1e-5)  # H_fd[..., i, j] = d g_i / d xy_j
    np.testing.assert_allclose(g, g_fd, rtol=1e-6, atol=1e-6 * (1 + np.abs(g).max()))
    np.testing.assert_allclose(H, H_fd, rtol=1e-6, atol=1e-6 * (1 + np.abs(H).max()))
    np.testing.assert_array_equal(H, np.swapaxes(H, -1, -2))


# torch.func.hessian's forward-mode pass loads decompositions via torch.jit.script, which warns in torch 2.13
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("name", IDS)
def test_gradient_and_hessian_match_torch_autograd(name):
    s = CASES[name]
    xy = torch.from_numpy(random_points(s, seed=1))
    g_ad = torch.func.vmap(torch.func.grad(s.value))(xy)
    H_ad = torch.func.vmap(torch.func.hessian(s.value))(xy)
    g, H = s.grad(xy), s.hessian(xy)
    assert isinstance(g, torch.Tensor) and g.dtype == torch.float64 and H.shape == (len(xy), 2, 2)
    torch.testing.assert_close(g, g_ad, rtol=1e-12, atol=1e-12 * (1 + g.abs().max().item()))
    torch.testing.assert_close(H, H_ad, rtol=1e-12, atol=1e-12 * (1 + H.abs().max().item()))


@pytest.mark.parametrize("name", IDS)
def test_numpy_and_torch_agree(name):
    s = CASES[name]
    xy = random_points(s, seed=2)
    t = torch.from_numpy(xy)
    for method in (s.value, s.grad, s.hessian):
        np.testing.assert_allclose(method(t).numpy(), method(xy), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("name", IDS)
def test_shapes_and_dtypes(name):
    s = CASES[name]
    xy = random_points(s, n=12, seed=3).reshape(3, 4, 2)
    assert s.value(xy).shape == (3, 4) and s.grad(xy).shape == (3, 4, 2)
    assert s.hessian(xy).shape == (3, 4, 2, 2)
    one = xy[0, 0]
    assert s.value(one).shape == () and s.grad(one).shape == (2,) and s.hessian(one).shape == (2, 2)
    np.testing.assert_array_equal(s.hessian(xy)[1, 2], s.hessian(xy[1, 2]))
    for arr in (xy.astype(np.float32), torch.tensor(xy, dtype=torch.float32)):
        assert s.value(arr).dtype == arr.dtype and s.grad(arr).dtype == arr.dtype
        assert s.hessian(arr).dtype == arr.dtype and type(s.hessian(arr)) is type(arr)


def eigenvalues(s, p):
    H = s.hessian(np.array(p.xy, dtype=np.float64))
    lam = np.linalg.eigvalsh(H)
    return lam, 1e-8 * (1 + np.abs(lam).max())


def neighbours(s, p, radius=1e-3, n=64):
    """f at points on a small circle around p, minus f(p)."""
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ring = np.array(p.xy) + radius * np.stack([np.cos(a), np.sin(a)], axis=-1)
    return s.value(ring) - s.value(np.array(p.xy))


CRITICAL = [(name, i) for name in IDS for i in range(len(CASES[name].critical_points))]


@pytest.mark.parametrize(("name", "i"), CRITICAL, ids=[f"{n}-{i}" for n, i in CRITICAL])
def test_critical_point_has_zero_gradient_and_the_kind_it_claims(name, i):
    s = CASES[name]
    p = s.critical_points[i]
    (x0, x1), (y0, y1) = s.bounds
    assert x0 < p.xy[0] < x1 and y0 < p.xy[1] < y1, "critical point outside the plotting window"
    xy = np.array(p.xy)
    H = s.hessian(xy)
    assert np.abs(s.grad(xy)).max() <= 1e-12 * (1 + np.abs(H).max() * np.abs(xy).max())
    lam, tol = eigenvalues(s, p)
    around = neighbours(s, p)
    if p.kind in ("local minimum", "global minimum"):
        assert lam.min() >= -tol and around.min() >= -1e-14
    elif p.kind == "local maximum":
        assert lam.max() <= tol and around.max() <= 1e-14
    elif p.kind == "saddle point":
        assert lam.min() < -tol and lam.max() > tol
    else:
        assert p.kind == "degenerate"
        assert np.abs(lam).min() <= tol and around.min() < 0 < around.max()


# the saddles are unbounded below and have no global minimum
@pytest.mark.parametrize("name", [n for n in IDS if n not in ("saddle", "monkey_saddle")])
def test_global_minima_are_lowest_in_the_window(name):
    s = CASES[name]
    (x0, x1), (y0, y1) = s.bounds
    grid = np.stack(np.meshgrid(np.linspace(x0, x1, 301), np.linspace(y0, y1, 301)), axis=-1)
    f_star = min(s.value(np.array(p.xy)) for p in s.critical_points if p.kind == "global minimum")
    assert f_star <= s.value(grid).min() + 1e-12
    for p in s.critical_points:
        if p.kind == "global minimum":
            assert s.value(np.array(p.xy)) == pytest.approx(f_star, abs=1e-12)
        if p.kind == "local minimum":
            assert s.value(np.array(p.xy)) > f_star + 1e-3


@pytest.mark.parametrize("name", ["himmelblau", "six_hump_camel", "two_minima", "rosenbrock", "saddle"])
def test_critical_point_list_is_complete(name):
    """Newton from a grid of starts finds no critical point in the window that is not listed.

    (The monkey saddle's only one is the origin: 3x² = 3y² and xy = 0; lee_network's minima form a curve.)
    """
    s = CASES[name]
    (x0, x1), (y0, y1) = s.bounds
    listed = np.array([p.xy for p in s.critical_points])
    for x in np.linspace(x0, x1, 13):
        for y in np.linspace(y0, y1, 13):
            sol = scipy.optimize.root(s.grad, [x, y], jac=s.hessian, tol=1e-14)
            inside = x0 <= sol.x[0] <= x1 and y0 <= sol.x[1] <= y1
            if sol.success and inside and np.abs(s.grad(sol.x)).max() < 1e-9:
                assert np.abs(listed - sol.x).max(axis=1).min() < 1e-7, f"unlisted critical point {sol.x}"


@pytest.mark.parametrize("name", IDS)
def test_starts_are_inside_the_window(name):
    s = CASES[name]
    (x0, x1), (y0, y1) = s.bounds
    assert x0 < x1 and y0 < y1 and s.starts
    for x, y in s.starts:
        assert x0 <= x <= x1 and y0 <= y <= y1


@pytest.mark.parametrize(("kappa", "angle", "lam_max"), [(2.0, 0.0, 1.0), (10.0, 0.3, 2.0), (1e3, -1.2, 0.5)])
def test_quadratic_has_the_requested_spectrum(kappa, angle, lam_max):
    H = quadratic(kappa, angle, lam_max).hessian(np.zeros(2))
    lam, vec = np.linalg.eigh(H)
    np.testing.assert_allclose(lam, [lam_max / kappa, lam_max], rtol=1e-12)
    assert abs(abs(vec[:, 1] @ [math.cos(angle), math.sin(angle)]) - 1) < 1e-12


def test_lee_network_is_hung_yi_lees_example():
    s = SURFACES["lee_network"]
    np.testing.assert_array_equal(s.hessian(np.zeros(2)), [[0.0, -2.0], [-2.0, 0.0]])
    w1 = np.linspace(0.3, 3.0, 7)
    valley = np.stack([w1, 1 / w1], axis=-1)  # every point of w1 w2 = 1 is a global minimum
    np.testing.assert_allclose(s.value(valley), 0.0, atol=1e-28)
    np.testing.assert_allclose(s.grad(valley), 0.0, atol=1e-14)
    assert s.value(np.array([0.5, -0.5])) == (1 + 0.25) ** 2


def test_two_minima_momentum_rolls_past_the_shallow_minimum():
    """The point of the surface: heavy-ball momentum escapes the shallow well that gradient descent keeps."""
    s = SURFACES["two_minima"]
    ends = {}
    for mu in (0.0, 0.9):
        theta, b = np.array(s.starts[0]), np.zeros(2)
        for _ in range(1000):
            b = mu * b + s.grad(theta)
            theta = theta - 0.05 * b
        ends[mu] = theta
    np.testing.assert_allclose(ends[0.0], [-1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(ends[0.9], [1.5, 0.0], atol=1e-6)


def test_registry_and_get():
    assert set(SURFACES) == {"quadratic", "saddle", "monkey_saddle", "rosenbrock", "himmelblau",
                             "six_hump_camel", "two_minima", "lee_network"}
    for name, s in SURFACES.items():
        assert s.name == name and s.label and s.formula and get(name) is s
    assert get("quadratic", kappa=100.0).hessian(np.zeros(2))[1, 1] == pytest.approx(0.01)
    with pytest.raises(ValueError, match="Unknown surface: 'nope'"):
        get("nope")
    with pytest.raises(ValueError, match="'rosenbrock' takes no arguments"):
        get("rosenbrock", a=2.0)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"kappa": 0.5}, "Invalid kappa: 0.5"),
    ({"kappa": math.nan}, "Invalid kappa: nan"),
    ({"lam_max": 0.0}, "Invalid lam_max: 0.0"),
])
def test_quadratic_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        quadratic(**kwargs)


def test_bad_arguments_elsewhere():
    with pytest.raises(ValueError, match="Invalid x: 0.0"):
        lee_network(x=0.0)
    with pytest.raises(ValueError, match="Invalid critical point kind: 'minimum'"):
        Surface("s", "S", ((0, 1), (0, 1)), (), (CriticalPoint((0.5, 0.5), "minimum"),),
                f=lambda x, y: x, df=lambda x, y: (1.0, 0.0), d2f=lambda x, y: ((0.0, 0.0), (0.0, 0.0)))


def test_two_quadratics_with_the_same_label_are_the_same_surface():
    """Explorers and tables name a surface by its label: "Quadratic (κ = 10)" must not be turned in one chapter
    and axis-aligned in another."""
    settings = [(kappa, angle, lam_max) for kappa in (10.0, 100.0) for angle in (0.0, math.pi / 6, 0.5, math.pi / 2)
                for lam_max in (1.0, 4.0)]
    labels = {quadratic(*s).label: s for s in settings}
    assert len(labels) == len(settings)
    assert quadratic(10.0).label == "Quadratic (κ = 10)" == quadratic(10.0, angle=math.pi).label
    assert quadratic(10.0, angle=math.pi / 6).label == "Quadratic (κ = 10, turned 30°)"
    assert quadratic(50.0, angle=0.3, lam_max=4.0).label == "Quadratic (κ = 50, turned 17.2°, λₘₐₓ = 4)"


def test_axis_labels_name_the_parameters():
    assert lee_network().axis_labels == ("w₁", "w₂")
    assert quadratic().axis_labels == SURFACES["rosenbrock"].axis_labels == ("θ₁", "θ₂")
    with pytest.raises(ValueError, match="Invalid axis_labels"):
        Surface("s", "S", ((0, 1), (0, 1)), (), (), f=lambda x, y: x, df=lambda x, y: (1.0, 0.0),
                d2f=lambda x, y: ((0.0, 0.0), (0.0, 0.0)), axis_labels=("x",))
