r"""Curvature of a loss: Hessian-vector products, Lanczos eigenvalues, spectral density, critical points.

Around a point :math:`\theta'` the loss is, to second order,

.. math::
   L(\theta) \approx L(\theta') + (\theta - \theta')^\top g
   + \tfrac12 (\theta - \theta')^\top H (\theta - \theta'),
   \qquad g = \nabla L(\theta'),\quad H = \nabla^2 L(\theta').

At a critical point (:math:`g = 0`) the eigenvalues of :math:`H` decide what the point is: all positive, a
local minimum; all negative, a local maximum; both signs, a saddle point (and the eigenvector of a negative
eigenvalue is a direction that lowers the loss); zeros and one sign, the second-order test is inconclusive
("degenerate").

Nothing here forms :math:`H` unless asked to (:func:`hessian`, for small models): everything else only needs
products :math:`Hv`, which double backpropagation gives at the cost of about two gradients (:func:`hvp`).
:func:`lanczos` turns products into eigenvalues (it works on any symmetric linear operator ``matvec``, so it
is tested on explicit matrices), :func:`top_eigenvalues` / :func:`bottom_eigenvalues` apply it to a loss,
:func:`lanczos_quadrature` and :func:`spectral_density` estimate the whole eigenvalue density, and
:func:`classify`, :func:`minimum_ratio` and :func:`escape_direction` read critical points.

Conventions: ``params`` is a tensor or a sequence of tensors with ``requires_grad=True``; vectors over the
parameters are flat, in the order of ``params`` (each tensor flattened row-major), of length
:math:`n = \sum_i \mathrm{numel}(p_i)`.

References:
    B. A. Pearlmutter (1994). Fast exact multiplication by the Hessian. Neural Computation 6(1), 147-160.
    C. Lanczos (1950). An iteration method for the solution of the eigenvalue problem of linear differential
    and integral operators. J. Res. Nat. Bur. Standards 45(4), 255-282.
    G. H. Golub & C. F. Van Loan (2013). Matrix Computations, 4th ed., ch. 10 (the symmetric Lanczos process).
    B. N. Parlett (1998). The Symmetric Eigenvalue Problem, SIAM, ch. 13.
    B. Ghorbani, S. Krishnan & Y. Xiao (2019). An investigation into neural net optimization via Hessian
    eigenvalue density. ICML 2019.
    Z. Yao, A. Gholami, K. Keutzer & M. W. Mahoney (2020). PyHessian: neural networks through the lens of the
    Hessian. IEEE BigData 2020.
    Y. N. Dauphin, R. Pascanu, C. Gulcehre, K. Cho, S. Ganguli & Y. Bengio (2014). Identifying and attacking
    the saddle point problem in high-dimensional non-convex optimization. NeurIPS 2014.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

import numpy as np
import torch
from scipy.linalg import eigh_tridiagonal

__all__ = [
    "Eigen",
    "Escape",
    "bottom_eigenvalues",
    "classify",
    "escape_direction",
    "gaussian_density",
    "hessian",
    "hvp",
    "lanczos",
    "lanczos_quadrature",
    "minimum_ratio",
    "spectral_density",
    "top_eigenvalues",
]

Params = torch.Tensor | Iterable[torch.Tensor]
MatVec = Callable[[torch.Tensor], torch.Tensor]

_EPS = float(torch.finfo(torch.float64).eps)
# ARPACK's floor for the relative residual test, so that an eigenvalue that is exactly 0 can converge too
# (Lehoucq, Sorensen & Yang 1998, dsconv); we take it relative to the operator's norm, not absolute.
_EPS23 = _EPS ** (2.0 / 3.0)
# beta_j below this fraction of ||T|| means the Krylov space is invariant to working accuracy.
_BREAKDOWN = 1e-12
_WHICH = ("largest", "smallest", "magnitude", "both")


class Eigen(NamedTuple):
    r"""Ritz pairs returned by :func:`lanczos`, :func:`top_eigenvalues` and :func:`bottom_eigenvalues`.

    ``values`` (k,) float64, always in descending order (so ``values[-1]`` is the smallest one found);
    ``vectors`` (k, n) float64, unit rows, ``vectors[i]`` belongs to ``values[i]``, signed so that the
    component of largest magnitude is positive; ``n_hvp`` the number of operator applications (Hessian-vector
    products) used; ``residuals`` (k,) the Lanczos estimates :math:`|\beta_m s_{m,i}|` of
    :math:`\|Hv_i - \lambda_i v_i\|`; ``converged`` whether the stopping rule was met within ``max_iter``.
    """

    values: torch.Tensor
    vectors: torch.Tensor
    n_hvp: int
    residuals: torch.Tensor
    converged: bool


class Escape(NamedTuple):
    """What :func:`escape_direction` returns: a unit ``direction`` (flat, float64), its ``eigenvalue`` < 0."""

    direction: torch.Tensor
    eigenvalue: float


# ---------------------------------------------------------------------------------------------- validation


def _as_params(params: Params) -> list[torch.Tensor]:
    plist = [params] if isinstance(params, torch.Tensor) else list(params)
    if not plist:
        raise ValueError("params must be a tensor or a non-empty sequence of tensors, got an empty sequence")
    for i, p in enumerate(plist):
        if not isinstance(p, torch.Tensor):
            raise ValueError(f"params[{i}] must be a torch.Tensor, got {type(p).__name__}")
        if not p.is_floating_point():
            raise ValueError(f"params[{i}] must be a floating-point tensor, got dtype={p.dtype}")
        if not p.requires_grad:
            raise ValueError(
                f"params[{i}] (shape {tuple(p.shape)}) does not require grad: set requires_grad=True on "
                "every tensor the Hessian is taken with respect to"
            )
    return plist


def _scalar_loss(loss_fn: Callable[[], torch.Tensor]) -> torch.Tensor:
    """Calls loss_fn with grad mode on (the caller may be under torch.no_grad()) and checks the result."""
    loss = loss_fn()
    if not isinstance(loss, torch.Tensor):
        raise ValueError(f"loss_fn() must return a scalar torch.Tensor, got {type(loss).__name__}")
    if loss.numel() != 1:
        raise ValueError(f"loss_fn() must return a scalar loss, got a tensor of shape {tuple(loss.shape)}")
    if not loss.requires_grad:
        raise ValueError(
            "loss_fn() returned a loss that does not depend on params (requires_grad=False): was it computed "
            "under torch.no_grad() or from detached tensors?"
        )
    return loss.reshape(())


def _check_k(k: int, n: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise ValueError(f"k must be an integer, got {k!r}")
    if not 1 <= k <= n:
        raise ValueError(f"k must satisfy 1 <= k <= n = {n} (the dimension), got k={k}")


def _check_positive_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_tol(name: str, tol: float, *, allow_zero: bool) -> None:
    ok = isinstance(tol, int | float | np.floating) and math.isfinite(tol) and (tol >= 0 if allow_zero else tol > 0)
    if not ok:
        raise ValueError(f"{name} must be a finite {'non-negative' if allow_zero else 'positive'} number, got {tol!r}")


# ------------------------------------------------------------------------------------ Hessian-vector product


class _HVP:
    r"""The operator :math:`v \mapsto Hv` at ``params``, by double backpropagation (Pearlmutter 1994).

    The gradient graph :math:`g(\theta)` is built once and kept, so each product is one backward pass of
    :math:`g^\top v`: :math:`Hv = \nabla_\theta (g^\top v)`, with :math:`v` held constant.
    """

    def __init__(self, loss_fn: Callable[[], torch.Tensor], params: Params):
        self.params = _as_params(params)
        with torch.enable_grad():
            loss = _scalar_loss(loss_fn)
            self.g = torch.autograd.grad(
                loss, self.params, create_graph=True, allow_unused=True, materialize_grads=True
            )
        self.sizes = [p.numel() for p in self.params]
        self.n = sum(self.sizes)
        self.device = self.params[0].device

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        chunks = torch.split(v.reshape(-1), self.sizes)
        with torch.enable_grad():
            gv = sum(
                (gi * c.to(device=p.device, dtype=p.dtype).reshape(p.shape)).sum()
                for gi, c, p in zip(self.g, chunks, self.params, strict=True)
            )
            if not gv.requires_grad:  # the loss is linear in params: H = 0
                return torch.zeros(self.n, dtype=self.g[0].dtype, device=self.device)
            hv = torch.autograd.grad(gv, self.params, retain_graph=True, allow_unused=True, materialize_grads=True)
        return torch.cat([h.detach().reshape(-1) for h in hv])

    def rows(self, V: torch.Tensor) -> torch.Tensor:
        """The products :math:`H v_i` for the rows :math:`v_i` of ``V``, in one batched backward pass (vmap)."""
        # Gradient blocks that are constant (parameters the loss ignores, or enters linearly) add nothing to H.
        blocks = [
            (gi, c.to(device=p.device, dtype=p.dtype).reshape(-1, *p.shape))
            for gi, c, p in zip(self.g, torch.split(V, self.sizes, dim=1), self.params, strict=True)
            if gi.requires_grad
        ]
        if not blocks:  # the loss is linear in params: H = 0
            return torch.zeros(V.shape, dtype=self.g[0].dtype, device=self.device)
        with torch.enable_grad():
            hv = torch.autograd.grad(
                [gi for gi, _ in blocks],
                self.params,
                grad_outputs=[c for _, c in blocks],
                retain_graph=True,
                allow_unused=True,
                is_grads_batched=True,
            )
        rows = V.shape[0]
        return torch.cat(
            [
                torch.zeros((rows, p.numel()), dtype=V.dtype, device=self.device)
                if h is None
                else h.detach().reshape(rows, -1)
                for h, p in zip(hv, self.params, strict=True)
            ],
            dim=1,
        )


def hvp(loss_fn: Callable[[], torch.Tensor], params: Params, v) -> torch.Tensor:
    r"""Hessian-vector product :math:`Hv` of the loss at ``params``, exact (no finite differences).

    .. math::
       Hv = \nabla_\theta\big(\nabla_\theta L(\theta)^\top v\big), \qquad v \text{ held constant},

    i.e. two backward passes (double backpropagation, Pearlmutter 1994); :math:`H` itself is never formed.

    Args:
        loss_fn: callable with no argument returning the scalar loss of ``params`` (called once).
        params: a tensor or a sequence of tensors with ``requires_grad=True``.
        v: flat vector (tensor, array or list) of length :math:`n = \sum \mathrm{numel}(p)`, in the order of
            ``params``.

    Returns:
        Flat tensor of length :math:`n` in the dtype of ``params``, detached.

    Raises:
        ValueError: if ``params`` is empty, not floating point or without ``requires_grad``; if the loss is
            not a scalar or does not depend on ``params``; if ``v`` does not have :math:`n` elements.

    References:
        B. A. Pearlmutter (1994). Fast exact multiplication by the Hessian. Neural Computation 6(1), 147-160.
    """
    op = _HVP(loss_fn, params)
    v = torch.as_tensor(v)
    if v.numel() != op.n:
        raise ValueError(
            f"v must have n = {op.n} elements (the total numel of params), got {v.numel()} (shape {tuple(v.shape)})"
        )
    return op(v.to(op.device))


# Rows per batched backward pass of `hessian`: bounds the memory of one pass to this many gradient-sized buffers.
_HESSIAN_ROWS_PER_PASS = 256


def hessian(loss_fn: Callable[[], torch.Tensor], params: Params) -> torch.Tensor:
    r"""Dense Hessian :math:`H_{ij} = \partial^2 L / \partial\theta_i \partial\theta_j`, shape (n, n).

    Row :math:`i` is the product :math:`H e_i` (:func:`hvp` with one shared gradient graph), computed
    :data:`_HESSIAN_ROWS_PER_PASS` rows at a time by batched double backpropagation, with the parameters
    flattened in the order of ``params``; :math:`n` products, :math:`n^2` memory: for small models (a few
    thousand parameters at most). Not symmetrized: it agrees with ``torch.autograd.functional.hessian`` to
    rounding.

    References:
        B. A. Pearlmutter (1994). Fast exact multiplication by the Hessian. Neural Computation 6(1), 147-160.
    """
    op = _HVP(loss_fn, params)
    dtype = torch.cat([p.detach().reshape(-1)[:0] for p in op.params]).dtype
    eye = torch.eye(op.n, dtype=dtype, device=op.device)
    return torch.cat([op.rows(block) for block in torch.split(eye, _HESSIAN_ROWS_PER_PASS)])


# ----------------------------------------------------------------------------------------------- Lanczos


def _apply(matvec: MatVec, q: torch.Tensor) -> torch.Tensor:
    w = torch.as_tensor(matvec(q))
    if w.numel() != q.numel():
        raise ValueError(f"matvec must return a vector of length n = {q.numel()}, got shape {tuple(w.shape)}")
    w = w.to(dtype=torch.float64, device=q.device).reshape(-1)
    if not torch.isfinite(w).all():
        raise ValueError("matvec returned non-finite values (is the loss finite at params?)")
    return w


class _Krylov:
    r"""Symmetric Lanczos with full reorthogonalization: :math:`A Q_m = Q_m T_m + \beta_m q_{m+1} e_m^\top`.

    Rows of ``Q`` are the orthonormal Lanczos vectors, ``alpha``/``beta`` the diagonal / off-diagonal of the
    tridiagonal :math:`T`. When the Krylov space becomes invariant (:math:`\beta_j \approx 0`) a caller may
    :meth:`restart` from a random vector orthogonal to all previous ones: :math:`T` becomes block diagonal
    (``beta = 0`` at the seam) and the relation above still holds.
    """

    def __init__(self, matvec: MatVec, q: torch.Tensor):
        self.matvec = matvec
        self.n = q.numel()
        self.Q = torch.empty((min(self.n, 32), self.n), dtype=torch.float64, device=q.device)
        self.m = 0
        self.alpha: list[float] = []
        self.beta: list[float] = []
        self.blocks = [0]
        self.anorm = 0.0
        self._next = q

    def _orthogonalize(self, w: torch.Tensor) -> torch.Tensor:
        # classical Gram-Schmidt twice: "twice is enough" keeps Q orthonormal to working precision
        Qm = self.Q[: self.m]
        for _ in range(2):
            w = w - Qm.T @ (Qm @ w)
        return w

    def step(self) -> bool:
        """Adds one Lanczos vector; returns True when the Krylov space is exhausted (breakdown)."""
        q, j = self._next, self.m
        if j == self.Q.shape[0]:
            grown = torch.empty((min(self.n, 2 * j), self.n), dtype=torch.float64, device=q.device)
            grown[:j] = self.Q
            self.Q = grown
        self.Q[j] = q
        w = _apply(self.matvec, q)
        b_prev = self.beta[-1] if j > self.blocks[-1] else 0.0
        if b_prev:
            w = w - b_prev * self.Q[j - 1]
        a = float(q @ w)
        w = w - a * q
        self.m += 1
        w = self._orthogonalize(w)
        b = float(torch.linalg.vector_norm(w))
        self.alpha.append(a)
        self.anorm = max(self.anorm, abs(a) + b + b_prev)
        if self.m == self.n or b <= _BREAKDOWN * self.anorm:
            self.beta.append(0.0)
            return True
        self.beta.append(b)
        self._next = w / b
        return False

    def restart(self, gen: torch.Generator) -> None:
        while True:
            r = self._orthogonalize(_random_unit(self.n, gen, self.Q.device))
            norm = float(torch.linalg.vector_norm(r))
            if norm > 1e-8:  # a draw almost inside span(Q) is rejected rather than amplified
                break
        self.blocks.append(self.m)
        self._next = r / norm

    def eigh(self, start: int = 0, eigvals_only: bool = False):
        """Eigen-decomposition of T (from row ``start`` on), ascending; LAPACK's tridiagonal solver."""
        return eigh_tridiagonal(
            np.array(self.alpha[start:]), np.array(self.beta[start : self.m - 1]), eigvals_only=eigvals_only
        )


def _random_unit(n: int, gen: torch.Generator, device) -> torch.Tensor:
    # drawn on the CPU so the same seed gives the same vector on every device
    r = torch.randn(n, generator=gen, dtype=torch.float64)
    return (r / torch.linalg.vector_norm(r)).to(device)


def _ends(which: str, k: int) -> list[tuple[Callable[[np.ndarray], np.ndarray], int]]:
    """The wanted ends of the spectrum: (key, count) pairs, wanted = the `count` largest by key."""
    if which == "largest":
        return [(lambda t: t, k)]
    if which == "smallest":
        return [(lambda t: -t, k)]
    if which == "magnitude":
        return [(np.abs, k)]
    k_lo = k // 2
    return [(lambda t: t, k - k_lo)] + ([(lambda t: -t, k_lo)] if k_lo else [])


def _top_by(key: Callable[[np.ndarray], np.ndarray], theta: np.ndarray, count: int) -> np.ndarray:
    return np.argsort(-key(theta), kind="stable")[:count]


def _select(theta: np.ndarray, ends) -> np.ndarray:
    idx: list[int] = []
    for key, count in ends:
        idx += [i for i in _top_by(key, theta, len(theta)) if i not in idx][:count]
    return np.array(idx, dtype=int)


def _canonical_sign(vectors: torch.Tensor) -> torch.Tensor:
    pivot = vectors.abs().argmax(dim=1, keepdim=True)
    sign = torch.sign(torch.gather(vectors, 1, pivot))
    return vectors * torch.where(sign == 0, torch.ones_like(sign), sign)


def _default_max_iter(n: int, k: int) -> int:
    return min(n, max(300, 30 * k))


def _check_due(m: int) -> bool:
    # the small eigenproblem costs O(m^2)-O(m^3): every step while cheap, then about every 5% of m
    return m <= 100 or m % max(1, m // 20) == 0


def lanczos(
    matvec: MatVec,
    n: int,
    k: int = 1,
    *,
    which: str = "largest",
    tol: float = 1e-6,
    max_iter: int | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> Eigen:
    r"""k extreme eigenpairs of a symmetric linear operator by Lanczos with full reorthogonalization.

    From a random unit :math:`q_1`, the Lanczos recurrence builds an orthonormal basis
    :math:`Q_m = [q_1, \dots, q_m]` of the Krylov space :math:`\mathcal K_m(A, q_1)` and the tridiagonal
    :math:`T_m = Q_m^\top A Q_m` (diagonal :math:`\alpha_j`, off-diagonal :math:`\beta_j`):

    .. math::
       \beta_j q_{j+1} = A q_j - \alpha_j q_j - \beta_{j-1} q_{j-1}, \qquad
       A Q_m = Q_m T_m + \beta_m q_{m+1} e_m^\top .

    Each new vector is also orthogonalized against all previous ones (full reorthogonalization, twice), which
    keeps :math:`Q_m` orthonormal and prevents the spurious copies of converged eigenvalues of plain Lanczos.
    With :math:`T_m s_i = \theta_i s_i`, the Ritz pairs :math:`(\theta_i, y_i = Q_m s_i)` satisfy
    :math:`\|A y_i - \theta_i y_i\| = |\beta_m s_{m,i}|` (Parlett 1998, ch. 13), which costs nothing to
    evaluate. The iteration stops when, for **all** k wanted Ritz pairs,

    .. math::
       |\beta_m s_{m,i}| \le \mathrm{tol}\cdot\max\big(|\theta_i|,\ \epsilon^{2/3}\|T_m\|\big)

    (a residual test, not "the eigenvalue stopped changing"; the :math:`\epsilon^{2/3}\|T_m\|` floor, as in
    ARPACK, lets an eigenvalue that is exactly zero converge). A residual :math:`r` bounds the eigenvalue
    error by :math:`r` and, with a gap :math:`\delta` to the rest of the spectrum, by :math:`r^2/\delta`.

    Repeated eigenvalues: a single Krylov space holds one copy of each eigenvalue. When it becomes invariant
    (:math:`\beta_j \approx 0`) the iteration restarts from a random vector orthogonal to it (T becomes
    block diagonal) for as long as a further copy could still change the k wanted values, and after a restart
    the newest block's extreme Ritz pair must have converged too. A multiplicity that shows up only as a
    cluster inside a large space that is not exhausted is not detected (use a block method if that matters).

    Args:
        matvec: ``v -> A v`` for a flat float64 tensor ``v`` of length ``n`` (``A`` symmetric); may return
            a tensor, array or list of length ``n``.
        n: dimension of the operator.
        k: number of eigenpairs, ``1 <= k <= n``.
        which: ``"largest"`` (algebraically largest), ``"smallest"`` (most negative), ``"magnitude"``
            (largest :math:`|\lambda|`, what power iteration finds) or ``"both"`` (``k - k//2`` from the top
            and ``k//2`` from the bottom, as ``scipy.sparse.linalg.eigsh(which="BE")``).
        tol: relative residual tolerance, > 0.
        max_iter: most operator applications (default ``min(n, max(300, 30 k))``); with full
            reorthogonalization ``n`` applications always suffice.
        seed: seed of the random starting vector (and of restarts).
        device: where the Lanczos vectors live (default: CPU).

    Returns:
        :class:`Eigen` with values in descending order whatever ``which`` is. ``converged=False`` when
        ``max_iter`` ran out first (the best Ritz pairs are returned).

    Raises:
        ValueError: bad ``n``, ``k``, ``which``, ``tol`` or ``max_iter``; ``matvec`` returning the wrong
            length or non-finite values.

    References:
        C. Lanczos (1950). An iteration method for the solution of the eigenvalue problem of linear
        differential and integral operators. J. Res. Nat. Bur. Standards 45(4), 255-282.
        G. H. Golub & C. F. Van Loan (2013). Matrix Computations, 4th ed., ch. 10.
        B. N. Parlett (1998). The Symmetric Eigenvalue Problem, SIAM, ch. 13.
        R. B. Lehoucq, D. C. Sorensen & C. Yang (1998). ARPACK Users' Guide, SIAM.
    """
    _check_positive_int("n", n)
    _check_k(k, n)
    if which not in _WHICH:
        raise ValueError(f"which must be one of {_WHICH}, got {which!r}")
    _check_tol("tol", tol, allow_zero=False)
    if max_iter is None:
        max_iter = _default_max_iter(n, k)
    _check_positive_int("max_iter", max_iter)
    if max_iter < k:
        raise ValueError(f"max_iter must be >= k = {k}, got max_iter={max_iter}")
    max_iter = min(max_iter, n)
    device = torch.device("cpu") if device is None else torch.device(device)

    gen = torch.Generator().manual_seed(seed)
    ends = _ends(which, k)
    kr = _Krylov(matvec, _random_unit(n, gen, device))
    while True:
        breakdown = kr.step()
        m = kr.m
        out_of_budget = m >= max_iter
        if m >= k and (breakdown or out_of_budget or _check_due(m)):
            theta, S = kr.eigh()
            sel = _select(theta, ends)
            floor = _EPS23 * kr.anorm
            res = np.abs(kr.beta[-1] * S[-1, sel])
            done = bool(np.all(res <= tol * np.maximum(np.abs(theta[sel]), floor)))
            if done and breakdown and m < n:
                done = not _copy_could_matter(kr, theta, ends, tol * max(np.abs(theta).max(), floor))
            elif done and len(kr.blocks) > 1:
                done = _newest_block_converged(kr, ends, tol, floor)
            if done or out_of_budget:
                if not done:
                    worst = float(np.max(res / np.maximum(np.abs(theta[sel]), floor)))
                    why = (
                        f"largest relative residual {worst:.1e} > tol={tol}"
                        if worst > tol
                        else "a repeated eigenvalue may have more copies than were found"
                    )
                    warnings.warn(
                        f"lanczos did not converge in max_iter={m} operator applications ({why}); "
                        "returning the current Ritz pairs",
                        UserWarning,
                        stacklevel=2,
                    )
                return _eigen(kr, theta[sel], S[:, sel], res, done)
        if breakdown:
            kr.restart(gen)


def _copy_could_matter(kr: _Krylov, theta: np.ndarray, ends, slack: float) -> bool:
    """After an exhausted block: could another copy of its extreme eigenvalue enter the wanted set?"""
    block_theta = kr.eigh(kr.blocks[-1], eigvals_only=True)
    for key, count in ends:
        kth = key(theta)[_top_by(key, theta, count)[-1]]
        if key(block_theta).max() > kth + slack:
            return True
    return False


def _newest_block_converged(kr: _Krylov, ends, tol: float, floor: float) -> bool:
    theta_b, S_b = kr.eigh(kr.blocks[-1])
    idx = np.array([_top_by(key, theta_b, 1)[0] for key, _ in ends])
    res = np.abs(kr.beta[-1] * S_b[-1, idx])
    return bool(np.all(res <= tol * np.maximum(np.abs(theta_b[idx]), floor)))


def _eigen(kr: _Krylov, theta: np.ndarray, S: np.ndarray, res: np.ndarray, converged: bool) -> Eigen:
    order = np.argsort(-theta, kind="stable")
    Qm = kr.Q[: kr.m]
    vectors = torch.as_tensor(S[:, order].T.copy(), device=Qm.device) @ Qm
    vectors = vectors / torch.linalg.vector_norm(vectors, dim=1, keepdim=True)
    return Eigen(
        values=torch.as_tensor(theta[order].copy(), device=Qm.device),
        vectors=_canonical_sign(vectors),
        n_hvp=kr.m,
        residuals=torch.as_tensor(res[order].copy(), device=Qm.device),
        converged=converged,
    )


def top_eigenvalues(
    loss_fn: Callable[[], torch.Tensor],
    params: Params,
    k: int = 1,
    *,
    tol: float = 1e-6,
    max_iter: int | None = None,
    which: str = "largest",
    seed: int = 0,
) -> Eigen:
    r"""k extreme eigenpairs of the Hessian of the loss at ``params``, by :func:`lanczos` on :func:`hvp`.

    The gradient graph is built once (one call of ``loss_fn``); each Lanczos step is one Hessian-vector
    product :math:`Hq_j`, computed in the dtype of ``params`` (the Lanczos vectors are kept in float64).
    Stops when :math:`\|Hv_i - \lambda_i v_i\| \le \mathrm{tol}\cdot|\lambda_i|` for all k Ritz pairs,
    estimated as :math:`|\beta_m s_{m,i}|` (see :func:`lanczos` for the details and the ``which`` options).
    The eigenvalues are far more accurate than the vectors: with a gap :math:`\delta` to the rest of the
    spectrum their error is at most :math:`(\mathrm{tol}\,|\lambda_i|)^2/\delta`, so when only eigenvalues
    matter a looser ``tol`` suffices (``tol=1e-4`` and a relative gap of 1 % still bound it by
    :math:`10^{-6}|\lambda_i|`). Eigenvectors are flat over the flattened ``params``;
    ``torch.split(v, [p.numel() for p in params])`` gives them back per tensor.

    Returns:
        :class:`Eigen`: ``.values`` descending (k,), ``.vectors`` (k, n) unit eigenvectors over the flattened
        ``params``, ``.n_hvp``, ``.residuals``, ``.converged``.

    Raises:
        ValueError: as :func:`hvp`, and for ``k`` outside ``1..n`` or a bad ``which``/``tol``/``max_iter``.

    References:
        C. Lanczos (1950), J. Res. Nat. Bur. Standards 45(4); G. H. Golub & C. F. Van Loan (2013), Matrix
        Computations, ch. 10; Z. Yao et al. (2020), PyHessian, IEEE BigData (the same quantities, by power
        iteration).
    """
    op = _HVP(loss_fn, params)
    _check_k(k, op.n)
    return lanczos(op, op.n, k, which=which, tol=tol, max_iter=max_iter, seed=seed, device=op.device)


def bottom_eigenvalues(
    loss_fn: Callable[[], torch.Tensor],
    params: Params,
    k: int = 1,
    *,
    tol: float = 1e-6,
    max_iter: int | None = None,
    seed: int = 0,
) -> Eigen:
    r"""The k smallest (most negative) Hessian eigenpairs: ``top_eigenvalues(..., which="smallest")``.

    ``.values`` are still in descending order: the most negative eigenvalue is ``.values[-1]``. Negative
    values mean negative curvature: at a critical point, a saddle (Dauphin et al. 2014).

    References:
        Y. N. Dauphin et al. (2014). Identifying and attacking the saddle point problem in high-dimensional
        non-convex optimization. NeurIPS 2014.
    """
    return top_eigenvalues(loss_fn, params, k, tol=tol, max_iter=max_iter, which="smallest", seed=seed)


# ---------------------------------------------------------------------------------- spectral density (SLQ)


def lanczos_quadrature(
    matvec: MatVec, n: int, *, n_probes: int = 10, n_steps: int = 80, seed: int = 0, device=None
) -> tuple[np.ndarray, np.ndarray]:
    r"""Stochastic Lanczos quadrature: a discrete approximation of a symmetric operator's spectral measure.

    The spectral density :math:`\phi(t) = \frac1n \sum_{i=1}^n \delta(t - \lambda_i)` satisfies
    :math:`\int f\,d\phi = \frac1n \operatorname{tr} f(A) = \mathbb E_v[v^\top f(A) v]` for random probes with
    :math:`\mathbb E[vv^\top] = I/n` (Hutchinson 1990; here Rademacher vectors scaled to unit norm). For one
    probe, :math:`m` Lanczos steps from :math:`q_1 = v` give :math:`T_m = \sum_j \theta_j s_j s_j^\top` and
    the Gauss quadrature rule :math:`v^\top f(A) v \approx \sum_j \tau_j f(\theta_j)` with
    :math:`\tau_j = s_{1j}^2`, exact for polynomials of degree :math:`\le 2m-1`. Averaging over probes:

    .. math::
       \phi(t) \approx \frac{1}{n_\text{probes}} \sum_{l=1}^{n_\text{probes}} \sum_{j=1}^{m}
       \tau_j^{(l)}\, \delta\big(t - \theta_j^{(l)}\big).

    A probe stops early if its Krylov space becomes invariant (the rule is then exact for it).

    Returns:
        ``(nodes, weights)``: 1-D float64 arrays of equal length; the weights are non-negative and sum to 1.

    References:
        B. Ghorbani, S. Krishnan & Y. Xiao (2019). An investigation into neural net optimization via Hessian
        eigenvalue density. ICML 2019.
        L. Lin, Y. Saad & C. Yang (2016). Approximating spectral densities of large matrices. SIAM Review
        58(1), 34-65.
        G. H. Golub & C. F. Van Loan (2013). Matrix Computations, 4th ed., ch. 10 (Lanczos and quadrature).
        M. F. Hutchinson (1990). A stochastic estimator of the trace of the influence matrix for Laplacian
        smoothing splines. Comm. Statist. Simulation Comput. 19(2).
    """
    _check_positive_int("n", n)
    _check_positive_int("n_probes", n_probes)
    _check_positive_int("n_steps", n_steps)
    device = torch.device("cpu") if device is None else torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    nodes, weights = [], []
    for _ in range(n_probes):
        v = torch.randint(0, 2, (n,), generator=gen).to(torch.float64) * 2 - 1
        kr = _Krylov(matvec, (v / math.sqrt(n)).to(device))
        while kr.m < min(n_steps, n) and not kr.step():
            pass
        theta, S = kr.eigh()
        nodes.append(theta)
        weights.append(S[0] ** 2 / n_probes)
    return np.concatenate(nodes), np.concatenate(weights)


def gaussian_density(
    nodes, weights, *, grid: int | Sequence[float] | np.ndarray = 1000, sigma: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    r"""Smooths a discrete measure :math:`\sum_j w_j \delta(t - \theta_j)` with a Gaussian kernel.

    .. math::
       \phi_\sigma(t) = \sum_j \frac{w_j}{\sigma\sqrt{2\pi}}
       \exp\!\Big(-\frac{(t - \theta_j)^2}{2\sigma^2}\Big),

    which integrates to :math:`\sum_j w_j` over the real line. Defaults: ``sigma`` is 1 % of the node range
    (1 % of :math:`\max(|\theta|, 1)` if all nodes coincide); ``grid`` is a number of points spread evenly
    over [min node - 5 sigma, max node + 5 sigma], which holds all but ~1e-6 of the mass; or pass the grid
    points themselves (1-D, increasing).

    Returns:
        ``(grid, density)``, two 1-D float64 numpy arrays.

    References:
        L. Lin, Y. Saad & C. Yang (2016). Approximating spectral densities of large matrices. SIAM Review
        58(1), 34-65.
    """
    nodes = np.asarray(nodes, dtype=np.float64).reshape(-1)
    weights = np.asarray(weights, dtype=np.float64).reshape(-1)
    if nodes.size == 0 or nodes.shape != weights.shape:
        raise ValueError(
            f"nodes and weights must be non-empty and of equal length, got {nodes.size} and {weights.size}"
        )
    lo, hi = float(nodes.min()), float(nodes.max())
    if sigma is None:
        sigma = 0.01 * (hi - lo) if hi > lo else 0.01 * max(abs(hi), 1.0)
    _check_tol("sigma", sigma, allow_zero=False)
    if isinstance(grid, int | np.integer) and not isinstance(grid, bool):
        if grid < 2:
            raise ValueError(f"grid must be >= 2 points or an array of points, got {grid}")
        grid = np.linspace(lo - 5 * sigma, hi + 5 * sigma, int(grid))
    else:
        grid = np.asarray(grid, dtype=np.float64)
        if grid.ndim != 1 or grid.size < 2 or not np.all(np.diff(grid) > 0):
            raise ValueError(f"grid must be an int or a 1-D increasing array of >= 2 points, got shape {grid.shape}")
    z = (grid[:, None] - nodes[None, :]) / sigma
    density = np.exp(-0.5 * z * z) @ weights / (sigma * math.sqrt(2 * math.pi))
    return grid, density


def spectral_density(
    loss_fn: Callable[[], torch.Tensor],
    params: Params,
    *,
    n_probes: int = 10,
    n_steps: int = 80,
    grid: int | Sequence[float] | np.ndarray = 1000,
    sigma: float | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Hessian eigenvalue density by stochastic Lanczos quadrature (Ghorbani, Krishnan & Xiao 2019).

    :func:`lanczos_quadrature` on the Hessian-vector product (``n_probes`` probes of ``n_steps`` steps, i.e.
    at most ``n_probes * n_steps`` products), smoothed by :func:`gaussian_density`:

    .. math::
       \phi_\sigma(t) = \frac{1}{n_\text{probes}} \sum_{l} \sum_{j} \tau_j^{(l)}\,
       \mathcal N\big(t;\ \theta_j^{(l)}, \sigma^2\big)
       \approx \frac1n \sum_{i=1}^n \mathcal N(t;\ \lambda_i, \sigma^2).

    Returns:
        ``(grid, density)`` as numpy float64 arrays; the density integrates to 1 (to ~1e-6 over the default
        grid).

    References:
        B. Ghorbani, S. Krishnan & Y. Xiao (2019). An investigation into neural net optimization via Hessian
        eigenvalue density. ICML 2019.
        Z. Yao, A. Gholami, K. Keutzer & M. W. Mahoney (2020). PyHessian: neural networks through the lens of
        the Hessian. IEEE BigData 2020.
    """
    op = _HVP(loss_fn, params)
    nodes, weights = lanczos_quadrature(op, op.n, n_probes=n_probes, n_steps=n_steps, seed=seed, device=op.device)
    return gaussian_density(nodes, weights, grid=grid, sigma=sigma)


# ------------------------------------------------------------------------------------------ critical points


def _as_eigenvalues(eigenvalues) -> np.ndarray:
    if isinstance(eigenvalues, Eigen):
        eigenvalues = eigenvalues.values
    if isinstance(eigenvalues, torch.Tensor):
        eigenvalues = eigenvalues.detach().cpu().numpy()
    lam = np.asarray(eigenvalues, dtype=np.float64).reshape(-1)
    if lam.size == 0:
        raise ValueError("eigenvalues must be non-empty")
    if not np.all(np.isfinite(lam)):
        raise ValueError(f"eigenvalues must be finite, got {lam}")
    return lam


def _signs(eigenvalues, tol: float) -> tuple[np.ndarray, np.ndarray]:
    _check_tol("tol", tol, allow_zero=True)
    lam = _as_eigenvalues(eigenvalues)
    cut = tol * np.abs(lam).max()
    return lam > cut, lam < -cut


def classify(eigenvalues, tol: float = 1e-6) -> str:
    r"""Second-order test at a critical point from the Hessian's eigenvalues.

    An eigenvalue counts as zero when :math:`|\lambda| \le \mathrm{tol}\cdot\max_i|\lambda_i|` (relative, so
    the answer does not depend on the scale of the loss; all zero is "degenerate"). Then:

    - all :math:`\lambda_i > 0` (H positive definite): ``"local minimum"``;
    - all :math:`\lambda_i < 0` (negative definite): ``"local maximum"``;
    - some :math:`\lambda_i > 0` and some :math:`\lambda_j < 0` (indefinite): ``"saddle point"``, whatever
      zeros there are;
    - otherwise (zeros and one sign, or all zeros): ``"degenerate"``, the test is inconclusive.

    It assumes the gradient vanishes there. Passing only some eigenvalues is fine when they include the
    largest and the smallest (e.g. ``top_eigenvalues(..., k=2, which="both")``), which alone decide.

    Args:
        eigenvalues: 1-D tensor, array, list, or an :class:`Eigen`.
        tol: relative tolerance, >= 0.

    References:
        Y. N. Dauphin et al. (2014). Identifying and attacking the saddle point problem in high-dimensional
        non-convex optimization. NeurIPS 2014.
    """
    pos, neg = _signs(eigenvalues, tol)
    if pos.any() and neg.any():
        return "saddle point"
    if pos.all():
        return "local minimum"
    if neg.all():
        return "local maximum"
    return "degenerate"


def minimum_ratio(eigenvalues, tol: float = 1e-6) -> float:
    r"""Share of positive Hessian eigenvalues (LeeDL §3.1), with the same zero threshold as :func:`classify`.

    .. math::
       \text{minimum ratio} = \frac{\#\{i : \lambda_i > \mathrm{tol}\cdot\max_j|\lambda_j|\}}{n}.

    Eigenvalues within the threshold of zero do not count as positive, so the ratio is 1 exactly when
    :func:`classify` says ``"local minimum"``; ``tol=0`` counts every :math:`\lambda_i > 0` (rounding noise
    around 0 then lands on either side). Meaningful on the full spectrum (e.g. ``eigvalsh`` of
    :func:`hessian`).

    References:
        H.-y. Lee, ML lectures and LeeDL ("Apple book") §3.1, local minima and saddle points.
    """
    pos, _ = _signs(eigenvalues, tol)
    return float(pos.mean())


def escape_direction(
    loss_fn: Callable[[], torch.Tensor],
    params: Params,
    *,
    tol: float = 1e-6,
    lanczos_tol: float = 1e-6,
    max_iter: int | None = None,
    seed: int = 0,
) -> Escape | None:
    r"""Unit eigenvector of the most negative Hessian eigenvalue, or ``None`` without negative curvature.

    At a critical point, moving along an eigenvector :math:`u` with :math:`Hu = \lambda u`,
    :math:`\lambda < 0`,

    .. math::
       L(\theta + \epsilon u) \approx L(\theta) + \tfrac12 \lambda \epsilon^2 < L(\theta),

    so :math:`\pm u` both lead down (Dauphin et al. 2014; Hung-yi Lee's saddle example). The sign returned
    makes :math:`g^\top u \le 0`, so that off a critical point the first-order term does not push uphill; at
    an exact critical point it is the canonical sign (largest-magnitude component positive).

    The largest and the smallest eigenpairs are found together (:func:`lanczos`, ``which="both"``). There is
    no negative curvature, and ``None`` is returned, when
    :math:`\lambda_\min \ge -\mathrm{tol}\cdot\max|\lambda|` (the zero threshold of :func:`classify`).

    Returns:
        :class:`Escape` ``(direction, eigenvalue)`` with ``direction`` flat float64 over the flattened
        ``params``, or ``None``.

    References:
        Y. N. Dauphin et al. (2014). Identifying and attacking the saddle point problem in high-dimensional
        non-convex optimization. NeurIPS 2014.
    """
    _check_tol("tol", tol, allow_zero=True)
    op = _HVP(loss_fn, params)
    eig = lanczos(op, op.n, min(2, op.n), which="both", tol=lanczos_tol, max_iter=max_iter, seed=seed, device=op.device)
    lam_min = float(eig.values[-1])
    if lam_min >= -tol * float(eig.values.abs().max()):
        return None
    u = eig.vectors[-1]
    g = torch.cat([gi.detach().reshape(-1) for gi in op.g]).to(u)
    if float(g @ u) > 0:
        u = -u
    return Escape(direction=u, eigenvalue=lam_min)
