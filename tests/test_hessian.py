"""Tests of lib.hessian against dense autograd Hessians, finite differences, numpy.linalg.eigh and ARPACK."""

import math

import numpy as np
import pytest
import scipy.sparse.linalg as sla
import torch
import torch.nn.functional as F

from lib import hessian as H

f64 = torch.float64


# --------------------------------------------------------------------------------------------- fixtures


def mlp_params(sizes, seed):
    gen = torch.Generator().manual_seed(seed)
    params = []
    for d_in, d_out in zip(sizes[:-1], sizes[1:], strict=True):
        params.append((torch.randn(d_out, d_in, generator=gen, dtype=f64) / math.sqrt(d_in)).requires_grad_())
        params.append((0.1 * torch.randn(d_out, generator=gen, dtype=f64)).requires_grad_())
    return params


def mlp_loss(params, X, y):
    h = X
    for i in range(0, len(params) - 2, 2):
        h = torch.tanh(F.linear(h, params[i], params[i + 1]))
    return F.mse_loss(F.linear(h, params[-2], params[-1]), y)


def problem(sizes, n_data, seed):
    gen = torch.Generator().manual_seed(seed + 1)
    X = torch.randn(n_data, sizes[0], generator=gen, dtype=f64)
    y = torch.randn(n_data, sizes[-1], generator=gen, dtype=f64)
    params = mlp_params(sizes, seed)
    return (lambda: mlp_loss(params, X, y)), params, X, y


@pytest.fixture(scope="module")
def small_mlp():
    """3-6-4-1 tanh MLP on 20 points: 57 parameters in 6 tensors, away from any critical point."""
    loss_fn, params, X, y = problem([3, 6, 4, 1], 20, seed=0)
    return loss_fn, params, X, y


@pytest.fixture(scope="module")
def small_mlp_hessian(small_mlp):
    loss_fn, params, X, y = small_mlp
    blocks = torch.autograd.functional.hessian(lambda *ps: mlp_loss(list(ps), X, y), tuple(p.detach() for p in params))
    sizes = [p.numel() for p in params]
    return torch.cat(
        [
            torch.cat([blocks[i][j].reshape(sizes[i], sizes[j]) for j in range(len(params))], 1)
            for i in range(len(params))
        ]
    )


@pytest.fixture(scope="module")
def model_1000():
    """25-37-1 tanh MLP on 64 points: exactly 1 000 parameters, with its dense Hessian and eigh."""
    loss_fn, params, _, _ = problem([25, 37, 1], 64, seed=3)
    Hd = H.hessian(loss_fn, params)
    return loss_fn, params, np.linalg.eigh(Hd.numpy())


def explicit(eigenvalues, seed=0):
    """A symmetric matrix with the given eigenvalues and random orthogonal eigenvectors."""
    rng = np.random.default_rng(seed)
    lam = np.asarray(eigenvalues, dtype=np.float64)
    U, _ = np.linalg.qr(rng.standard_normal((lam.size, lam.size)))
    return torch.tensor((U * lam) @ U.T)


def quadratic(A):
    """L(theta) = 1/2 theta^T A theta at a random theta: its Hessian is A everywhere."""
    theta = torch.randn(A.shape[0], generator=torch.Generator().manual_seed(7), dtype=f64).requires_grad_()
    return (lambda: 0.5 * theta @ A @ theta), theta


def lee(w):
    """Hung-yi Lee's network y = w1 w2 x on the one example (x, y) = (1, 1): L = (1 - w1 w2)^2."""
    w = torch.tensor(w, dtype=f64, requires_grad=True)
    return (lambda: (1 - w[0] * w[1]) ** 2), w


rng = np.random.default_rng(2024)
SPECTRA = {
    "gaussian": rng.standard_normal(150),
    "clustered": np.r_[1.0, 1 - 1e-3, 1 - 2e-3, 1 - 3e-3, rng.uniform(-0.5, 0.99, 146)],
    "clustered_bottom": np.r_[-1.0, -1 + 1e-3, -1 + 2e-3, rng.uniform(-0.99, 2.0, 147)],
    "mostly_negative": np.r_[rng.uniform(-5.0, -0.1, 140), rng.uniform(0.0, 0.5, 10)],
    "wide_range": np.r_[np.geomspace(1e-4, 1e3, 75), -np.geomspace(1e-4, 1e1, 75)],
}


def reference(eigenvalues, k, which):
    ev = np.sort(eigenvalues)
    if which == "largest":
        return ev[::-1][:k]
    if which == "smallest":
        return ev[:k][::-1]
    if which == "magnitude":
        return np.sort(ev[np.argsort(-np.abs(ev), kind="stable")[:k]])[::-1]
    return np.sort(np.r_[ev[::-1][: k - k // 2], ev[: k // 2]])[::-1]


def assert_eigenpairs(A, result, tol=1e-6):
    """Unit, orthonormal Ritz vectors whose true residuals meet the relative tolerance (with slack)."""
    V, lam = result.vectors, result.values
    assert torch.allclose(V @ V.T, torch.eye(len(lam), dtype=f64), atol=1e-10)
    true_res = torch.linalg.vector_norm(V @ A - lam[:, None] * V, dim=1)
    scale = torch.maximum(lam.abs(), torch.tensor(1e-8) * torch.linalg.matrix_norm(A, 2))
    assert torch.all(true_res <= 10 * tol * scale), (true_res, lam)
    # the cheap Lanczos estimate |beta_m s_mi| is the true residual, up to rounding
    assert torch.allclose(result.residuals, true_res, rtol=0.1, atol=1e-12 * float(lam.abs().max()))


# ------------------------------------------------------------------------------------------------- hvp


def test_hvp_matches_dense_autograd_hessian_times_v(small_mlp, small_mlp_hessian):
    loss_fn, params, _, _ = small_mlp
    gen = torch.Generator().manual_seed(1)
    for _ in range(3):
        v = torch.randn(small_mlp_hessian.shape[0], generator=gen, dtype=f64)
        torch.testing.assert_close(H.hvp(loss_fn, params, v), small_mlp_hessian @ v, rtol=1e-10, atol=1e-12)


def test_hvp_matches_finite_differences_of_gradients(small_mlp):
    loss_fn, params, X, y = small_mlp
    v = torch.randn(sum(p.numel() for p in params), generator=torch.Generator().manual_seed(2), dtype=f64)
    eps = 1e-5

    def grad_at(shift):
        shifted, offset = [], 0
        for p in params:
            dp = shift[offset : offset + p.numel()].reshape(p.shape)
            shifted.append((p.detach() + dp).requires_grad_())
            offset += p.numel()
        g = torch.autograd.grad(mlp_loss(shifted, X, y), shifted)
        return torch.cat([gi.reshape(-1) for gi in g])

    fd = (grad_at(eps * v) - grad_at(-eps * v)) / (2 * eps)
    torch.testing.assert_close(H.hvp(loss_fn, params, v), fd, rtol=1e-6, atol=1e-8)


def test_hvp_single_tensor_params_dtypes_and_inputs():
    A = explicit([3.0, -1.0, 0.5, 2.0])
    loss_fn, theta = quadratic(A)
    v = np.array([1.0, 2.0, -1.0, 0.0])
    expected = A @ torch.tensor(v)
    torch.testing.assert_close(H.hvp(loss_fn, theta, v), expected)  # numpy v
    torch.testing.assert_close(H.hvp(loss_fn, [theta], v.tolist()), expected)  # list params, list v
    torch.testing.assert_close(H.hvp(loss_fn, theta, torch.tensor(v).reshape(2, 2)), expected)  # any shape
    theta32 = theta.detach().float().requires_grad_()
    out = H.hvp(lambda: 0.5 * theta32 @ A.float() @ theta32, theta32, v)
    assert out.dtype == torch.float32 and not out.requires_grad
    torch.testing.assert_close(out, expected.float())


def test_hvp_works_under_no_grad_and_with_params_the_loss_ignores():
    a = torch.tensor([1.0, -2.0], dtype=f64, requires_grad=True)
    b = torch.tensor([0.5, 4.0, 1.0], dtype=f64, requires_grad=True)
    c = torch.tensor([3.0], dtype=f64, requires_grad=True)  # not used at all
    loss_fn = lambda: (a**3).sum() + 5 * b.sum()  # noqa: E731 -- linear in b: zero curvature there
    v = torch.ones(6, dtype=f64)
    with torch.no_grad():
        out = H.hvp(loss_fn, [a, b, c], v)
    torch.testing.assert_close(out, torch.tensor([6.0, -12.0, 0, 0, 0, 0], dtype=f64))
    Hd = H.hessian(loss_fn, [a, b, c])
    torch.testing.assert_close(Hd, torch.diag(torch.tensor([6.0, -12.0, 0, 0, 0, 0], dtype=f64)))
    torch.testing.assert_close(H.hvp(lambda: 2 * b.sum(), b, torch.ones(3)), torch.zeros(3, dtype=f64))


# --------------------------------------------------------------------------------------------- hessian


def test_hessian_matches_torch_functional_hessian_on_mlp(small_mlp, small_mlp_hessian):
    loss_fn, params, _, _ = small_mlp
    Hd = H.hessian(loss_fn, params)
    assert Hd.shape == (57, 57) and Hd.dtype == f64
    torch.testing.assert_close(Hd, small_mlp_hessian, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(Hd, Hd.T, rtol=1e-10, atol=1e-12)


def test_hessian_of_explicit_quadratic_is_its_matrix():
    A = explicit(np.linspace(-2, 3, 7))
    loss_fn, theta = quadratic(A)
    torch.testing.assert_close(H.hessian(loss_fn, theta), A)


# --------------------------------------------------------------------------------------------- lanczos


@pytest.mark.parametrize("name", list(SPECTRA))
@pytest.mark.parametrize("which", ["largest", "smallest"])
def test_lanczos_matches_eigh_and_eigsh(name, which):
    A = explicit(SPECTRA[name])
    n = A.shape[0]
    ev = np.linalg.eigvalsh(A.numpy())
    for k in (1, 3, 10):
        result = H.lanczos(lambda v, A=A: A @ v, n, k, which=which)
        assert result.converged
        assert result.values.shape == (k,) and result.vectors.shape == (k, n)
        assert torch.all(result.values[:-1] >= result.values[1:])  # descending
        scale = np.abs(ev).max()
        np.testing.assert_allclose(result.values.numpy(), reference(ev, k, which), rtol=0, atol=1e-9 * scale)
        arpack = sla.eigsh(A.numpy(), k=k, which="LA" if which == "largest" else "SA", tol=1e-12)[0]
        np.testing.assert_allclose(result.values.numpy(), np.sort(arpack)[::-1], rtol=0, atol=1e-9 * scale)
        assert_eigenpairs(A, result)
        assert result.n_hvp < n  # well before the Krylov space is exhausted


@pytest.mark.parametrize("which", ["magnitude", "both"])
@pytest.mark.parametrize("k", [1, 2, 5])
def test_lanczos_magnitude_and_both_ends(which, k):
    A = explicit(SPECTRA["mostly_negative"])
    ev = np.linalg.eigvalsh(A.numpy())
    result = H.lanczos(lambda v: A @ v, A.shape[0], k, which=which)
    np.testing.assert_allclose(result.values.numpy(), reference(ev, k, which), atol=1e-9 * np.abs(ev).max())
    assert_eigenpairs(A, result)


def test_lanczos_finds_repeated_eigenvalues_by_restarting():
    # a single Krylov space holds one copy of each eigenvalue; the copies come from restarts
    A = explicit([3.0, 3.0, 2.0, 2.0, 1.0, 1.0])
    r = H.lanczos(lambda v: A @ v, 6, 3)
    np.testing.assert_allclose(r.values.numpy(), [3.0, 3.0, 2.0], atol=1e-12)
    assert_eigenpairs(A, r)
    lam = np.repeat([5.0, 1.0, 0.0, -2.0], 3)
    B = explicit(lam, seed=1)
    r = H.lanczos(lambda v: B @ v, 12, 12)
    np.testing.assert_allclose(r.values.numpy(), np.sort(lam)[::-1], atol=1e-12)
    assert_eigenpairs(B, r)
    # k = 1 needs no second copy: it stops when the first Krylov space (4 distinct values) is exhausted
    assert H.lanczos(lambda v: B @ v, 12, 1).n_hvp == 4
    with pytest.warns(UserWarning, match="may have more copies"):
        short = H.lanczos(lambda v: A @ v, 6, 3, max_iter=3)
    assert not short.converged and short.values.tolist() == pytest.approx([3.0, 2.0, 1.0])


def test_lanczos_small_and_trivial_operators():
    A = explicit([4.0, -1.0, 2.5, 0.0, 1.0])
    r = H.lanczos(lambda v: A @ v, 5, 5)
    np.testing.assert_allclose(r.values.numpy(), [4.0, 2.5, 1.0, 0.0, -1.0], atol=1e-13)
    assert r.converged and r.n_hvp == 5
    zero = H.lanczos(lambda v: torch.zeros_like(v), 4, 2)
    assert zero.converged and torch.all(zero.values == 0)
    one = H.lanczos(lambda v: -2.0 * v, 1, 1, which="smallest")
    assert one.values.tolist() == [-2.0] and one.vectors.tolist() == [[1.0]] and one.n_hvp == 1
    # a matvec may return numpy arrays or lists
    r_np = H.lanczos(lambda v: A.numpy() @ v.numpy(), 5, 2)
    torch.testing.assert_close(r_np.values, r.values[:2])


def test_lanczos_exact_zero_eigenvalue_converges():
    # the relative rule alone could never accept lambda = 0: the eps^(2/3) ||T|| floor does
    A = explicit(np.r_[0.0, np.linspace(1, 2, 40)])
    r = H.lanczos(lambda v: A @ v, 41, 1, which="smallest")
    assert r.converged and abs(float(r.values[0])) < 1e-9


def test_lanczos_is_seeded_and_stops_at_max_iter():
    A = explicit(SPECTRA["clustered"])
    a = H.lanczos(lambda v: A @ v, 150, 3, seed=5)
    b = H.lanczos(lambda v: A @ v, 150, 3, seed=5)
    c = H.lanczos(lambda v: A @ v, 150, 3, seed=6)
    assert torch.equal(a.values, b.values) and torch.equal(a.vectors, b.vectors) and a.n_hvp == b.n_hvp
    torch.testing.assert_close(a.values, c.values, rtol=0, atol=1e-9)
    with pytest.warns(UserWarning, match="did not converge"):
        short = H.lanczos(lambda v: A @ v, 150, 3, max_iter=10)
    assert not short.converged and short.n_hvp == 10 and short.values.shape == (3,)


# ------------------------------------------------------------------------------- eigenvalues of a network


def test_top_and_bottom_eigenvalues_match_eigh_on_small_mlp(small_mlp, small_mlp_hessian):
    loss_fn, params, _, _ = small_mlp
    lam, U = np.linalg.eigh(small_mlp_hessian.numpy())
    scale = np.abs(lam).max()
    top = H.top_eigenvalues(loss_fn, params, k=4)
    bottom = H.bottom_eigenvalues(loss_fn, params, k=4)
    assert top.converged and bottom.converged
    np.testing.assert_allclose(top.values.numpy(), lam[::-1][:4], atol=1e-9 * scale)
    np.testing.assert_allclose(bottom.values.numpy(), lam[:4][::-1], atol=1e-9 * scale)
    assert lam[0] < 0  # a random point of a network: negative curvature exists
    # eigenvectors up to sign: |<u, u_eigh>| = 1 (the top eigenvalues are simple here)
    overlap = np.abs(np.sum(top.vectors.numpy() * U[:, ::-1][:, :4].T, axis=1))
    np.testing.assert_allclose(overlap, 1.0, atol=1e-6)
    assert_eigenpairs(small_mlp_hessian, top)
    assert_eigenpairs(small_mlp_hessian, bottom)


def test_eigenvalues_of_a_1000_parameter_model(model_1000):
    loss_fn, params, (lam, _) = model_1000
    assert sum(p.numel() for p in params) == 1000
    scale = np.abs(lam).max()
    top = H.top_eigenvalues(loss_fn, params, k=5)
    np.testing.assert_allclose(top.values.numpy(), lam[::-1][:5], atol=1e-9 * scale)
    both = H.top_eigenvalues(loss_fn, params, k=4, which="both")
    np.testing.assert_allclose(both.values.numpy(), np.r_[lam[::-1][:2], lam[:2][::-1]], atol=1e-9 * scale)
    assert top.n_hvp < 100 and both.n_hvp < 150  # a small fraction of the 1 000 a dense Hessian needs
    assert classify(both) == classify(lam) == "saddle point"


# ------------------------------------------------------------------------------------ critical points


def critical_hessian(f):
    xy = torch.zeros(2, dtype=f64, requires_grad=True)
    return torch.linalg.eigvalsh(H.hessian(lambda: f(xy[0], xy[1]), xy))


classify = H.classify


@pytest.mark.parametrize(
    ("f", "kind"),
    [
        (lambda x, y: x**2 + 3 * y**2, "local minimum"),
        (lambda x, y: -(x**2) - x * y - y**2, "local maximum"),
        (lambda x, y: x**2 - y**2, "saddle point"),
        (lambda x, y: (1 - x * y) ** 2, "saddle point"),  # Hung-yi Lee's network at the origin
        (lambda x, y: x**4 + y**2, "degenerate"),  # a minimum the second-order test cannot see
        (lambda x, y: x**3 - 3 * x * y**2, "degenerate"),  # monkey saddle: H = 0
        (lambda x, y: -(y**2) + x**3, "degenerate"),
    ],
)
def test_classify_critical_points_from_their_hessians(f, kind):
    assert classify(critical_hessian(f)) == kind


def test_classify_tolerance_is_relative_and_inputs_are_flexible():
    assert classify([2.0, -2.0]) == "saddle point"
    assert classify([1.0, 0.0, -1.0]) == "saddle point"  # indefinite whatever the zeros
    assert classify([0.0, 0.0]) == "degenerate"
    assert classify([1.0, 1e-9]) == "degenerate"  # 1e-9 <= 1e-6 * max|lambda|
    assert classify([1.0, 1e-9], tol=1e-12) == "local minimum"
    assert classify([1.0, 1e-9], tol=0) == "local minimum"
    for scale in (1e-8, 1.0, 1e8):  # invariant under scaling of the loss
        assert classify(scale * np.array([3.0, 1e-3])) == "local minimum"
        assert classify(-scale * np.array([3.0, 1e-7])) == "degenerate"
    assert classify(torch.tensor([-1.0, -2.0])) == "local maximum"
    assert classify(np.array([[1.0, 2.0]])) == "local minimum"


def test_minimum_ratio():
    assert H.minimum_ratio([1.0, 2.0, -1.0, 0.0]) == 0.5
    assert H.minimum_ratio([1.0, 1e-9, -1e-9, 2.0]) == 0.5  # near-zero values are not positive
    assert H.minimum_ratio([1.0, 1e-9, -1e-9, 2.0], tol=0) == 0.75
    assert H.minimum_ratio(torch.tensor([-1.0, -3.0])) == 0.0
    assert H.minimum_ratio([0.0, 0.0]) == 0.0
    gen = np.random.default_rng(0)
    for _ in range(50):
        lam = gen.choice([-1.0, 0.0, 1e-8, 1.0], size=5) * gen.uniform(0.5, 2.0, size=5)
        assert (H.minimum_ratio(lam) == 1.0) == (classify(lam) == "local minimum")


def test_escape_direction_on_lee_network():
    loss_fn, w = lee([0.0, 0.0])
    torch.testing.assert_close(torch.linalg.eigvalsh(H.hessian(loss_fn, w)), torch.tensor([-2.0, 2.0], dtype=f64))
    esc = H.escape_direction(loss_fn, w)
    assert esc is not None
    assert esc.eigenvalue == pytest.approx(-2.0, abs=1e-12)
    u = esc.direction
    torch.testing.assert_close(u.abs(), torch.full((2,), 1 / math.sqrt(2), dtype=f64))
    assert float(u[0] * u[1]) > 0  # +-(1, 1)/sqrt(2), not (1, -1)/sqrt(2)
    L = lambda w: float((1 - w[0] * w[1]) ** 2)  # noqa: E731
    for eps in (1e-2, 0.1, 0.5):
        assert L(eps * u) < L(torch.zeros(2)) == 1.0 < L(eps * torch.tensor([1.0, -1.0]) / math.sqrt(2))


def test_escape_direction_none_without_negative_curvature_and_downhill_sign():
    assert H.escape_direction(*lee([1.0, 1.0])) is None  # global minimum valley: eigenvalues 4 and 0
    A = explicit([1.0, 2.0, 0.5])
    assert H.escape_direction(*quadratic(A)) is None
    # off a critical point the sign makes g^T u <= 0
    loss_fn, theta = quadratic(explicit([1.0, -2.0, 0.5]))
    esc = H.escape_direction(loss_fn, theta)
    g = torch.autograd.grad(loss_fn(), theta)[0]
    assert esc.eigenvalue == pytest.approx(-2.0) and float(g @ esc.direction) <= 0


# ------------------------------------------------------------------------------------ spectral density


def test_lanczos_quadrature_is_gauss_quadrature():
    lam = np.linspace(-1.0, 2.0, 30)
    A = explicit(lam)
    nodes, weights = H.lanczos_quadrature(lambda v: A @ v, 30, n_probes=3, n_steps=30)
    assert weights.sum() == pytest.approx(1.0) and np.all(weights >= 0)
    assert nodes.min() >= lam[0] - 1e-10 and nodes.max() <= lam[-1] + 1e-10
    # with the Krylov space exhausted every node is an eigenvalue
    assert np.abs(nodes[:, None] - lam[None, :]).min(axis=1).max() < 1e-10
    # Gauss quadrature with m nodes is exact up to degree 2m - 1; for a diagonal A, Rademacher probes
    # (v_i^2 = 1/n) make v^T A^p v = tr(A^p)/n exactly, whatever the probe
    D = torch.diag(torch.tensor(lam))
    few_nodes, few_weights = H.lanczos_quadrature(lambda v: D @ v, 30, n_probes=4, n_steps=3)
    assert few_nodes.size == 12
    for p in range(6):
        assert few_weights @ few_nodes**p == pytest.approx(np.mean(lam**p), rel=1e-10, abs=1e-12)
    assert few_weights @ few_nodes**6 != pytest.approx(np.mean(lam**6), rel=1e-3)


def test_spectral_density_integrates_to_one_where_eigh_puts_the_mass():
    # two clusters, 40 % of the eigenvalues around -1, 60 % around 3
    gen = np.random.default_rng(0)
    lam = np.r_[gen.uniform(-1.2, -0.8, 80), gen.uniform(2.5, 3.5, 120)]
    loss_fn, theta = quadratic(explicit(lam))
    grid, density = H.spectral_density(loss_fn, theta, n_probes=10, n_steps=40, seed=0)
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=1e-6)
    assert np.all(density >= 0)

    def mass(lo, hi):
        inside = (grid >= lo) & (grid <= hi)
        return np.trapezoid(density[inside], grid[inside])

    assert mass(-1.5, -0.5) == pytest.approx(0.4, abs=0.08)
    assert mass(2.2, 3.8) == pytest.approx(0.6, abs=0.08)
    assert mass(-0.3, 2.0) < 0.01
    # on an explicit grid, with an explicit sigma
    grid, density = H.spectral_density(loss_fn, theta, n_steps=40, grid=np.linspace(-3, 5, 801), sigma=0.1)
    assert grid.shape == density.shape == (801,)
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=1e-6)


def test_spectral_density_of_mlp_matches_its_eigh(small_mlp, small_mlp_hessian):
    loss_fn, params, _, _ = small_mlp
    lam = np.linalg.eigvalsh(small_mlp_hessian.numpy())
    grid, density = H.spectral_density(loss_fn, params, n_probes=20, n_steps=30)
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=1e-6)
    inside = (grid >= lam[0] - 0.1) & (grid <= lam[-1] + 0.1)
    assert np.trapezoid(density[inside], grid[inside]) > 0.99
    # the share of negative eigenvalues, as the density sees it and as eigh counts it
    neg = grid < 0
    assert np.trapezoid(density[neg], grid[neg]) == pytest.approx((lam < 0).mean(), abs=0.1)


# ------------------------------------------------------------------------------------------- bad input


def test_bad_loss_raises():
    w = torch.ones(3, dtype=f64, requires_grad=True)
    v = torch.ones(3, dtype=f64)
    with pytest.raises(ValueError, match=r"scalar loss, got a tensor of shape \(3,\)"):
        H.hvp(lambda: w**2, w, v)
    with pytest.raises(ValueError, match="scalar torch.Tensor, got float"):
        H.hessian(lambda: 1.0, w)
    with pytest.raises(ValueError, match="does not depend on params"):
        H.top_eigenvalues(lambda: (w**2).sum().detach(), w)


def test_bad_params_raise():
    a = torch.ones(2, requires_grad=True)
    b = torch.ones(3)
    with pytest.raises(ValueError, match=r"params\[1\] \(shape \(3,\)\) does not require grad"):
        H.hvp(lambda: (a**2).sum() + (b**2).sum(), [a, b], torch.ones(5))
    with pytest.raises(ValueError, match="non-empty"):
        H.hessian(lambda: (a**2).sum(), [])
    with pytest.raises(ValueError, match=r"params\[0\] must be a floating-point tensor"):
        H.hessian(lambda: (a**2).sum(), torch.ones(2, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"params\[0\] must be a torch.Tensor"):
        H.hessian(lambda: (a**2).sum(), [[1.0, 2.0]])


def test_wrong_v_length_raises():
    a = torch.ones(2, requires_grad=True)
    b = torch.ones(3, requires_grad=True)
    with pytest.raises(ValueError, match=r"v must have n = 5 elements .* got 4"):
        H.hvp(lambda: (a**2).sum() + (b**2).sum(), [a, b], torch.ones(4))


def test_bad_k_and_options_raise():
    loss_fn, w = lee([0.0, 0.0])
    with pytest.raises(ValueError, match=r"k must satisfy 1 <= k <= n = 2 \(the dimension\), got k=3"):
        H.top_eigenvalues(loss_fn, w, k=3)
    for k in (0, -1):
        with pytest.raises(ValueError, match=f"got k={k}"):
            H.bottom_eigenvalues(loss_fn, w, k=k)
    with pytest.raises(ValueError, match="k must be an integer, got 1.5"):
        H.top_eigenvalues(loss_fn, w, k=1.5)
    with pytest.raises(ValueError, match="which must be one of"):
        H.top_eigenvalues(loss_fn, w, which="LA")
    with pytest.raises(ValueError, match="tol must be a finite positive number, got 0"):
        H.top_eigenvalues(loss_fn, w, tol=0)
    with pytest.raises(ValueError, match="max_iter must be >= k = 2, got max_iter=1"):
        H.top_eigenvalues(loss_fn, w, k=2, max_iter=1)
    with pytest.raises(ValueError, match="n must be a positive integer, got 0"):
        H.lanczos(lambda v: v, 0)
    with pytest.raises(ValueError, match="n_probes must be a positive integer, got 0"):
        H.spectral_density(loss_fn, w, n_probes=0)
    with pytest.raises(ValueError, match="sigma must be a finite positive number, got -1"):
        H.spectral_density(loss_fn, w, sigma=-1)
    with pytest.raises(ValueError, match="grid must be an int or a 1-D increasing array"):
        H.gaussian_density([0.0], [1.0], grid=[1.0, 0.0])
    with pytest.raises(ValueError, match="tol must be a finite non-negative number, got -0.1"):
        H.escape_direction(loss_fn, w, tol=-0.1)


def test_bad_matvec_and_eigenvalues_raise():
    with pytest.raises(ValueError, match=r"matvec must return a vector of length n = 4, got shape \(3,\)"):
        H.lanczos(lambda v: v[:3], 4)
    with pytest.raises(ValueError, match="non-finite"):
        H.lanczos(lambda v: v * float("nan"), 4)
    with pytest.raises(ValueError, match="eigenvalues must be non-empty"):
        classify([])
    with pytest.raises(ValueError, match="eigenvalues must be finite"):
        H.minimum_ratio([1.0, float("inf")])
    with pytest.raises(ValueError, match="tol must be a finite non-negative number"):
        classify([1.0], tol=-1e-6)
