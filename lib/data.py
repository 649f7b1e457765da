r"""Offline datasets: bundled real data and synthetic problems with known answers.

Nothing here touches the network. Real data comes from files shipped inside installed packages:
scikit-learn's ``load_digits`` (1 797 handwritten digits, 8×8 pixels, 10 classes) and vega_datasets'
``seattle-weather`` (daily weather in Seattle, 2012–2015, read through ``vega_datasets.local_data``, which
refuses any dataset that is not shipped with the package). The synthetic problems carry their exact solution,
so a chapter can measure the distance of an optimizer to the true minimizer.

Every function is deterministic: the same arguments give the same arrays, and no global random state is
read or changed (randomness comes from ``numpy.random.default_rng(seed)``).

References:
    Alpaydin, E. & Kaynak, C. (1998). Optical Recognition of Handwritten Digits. UCI Machine Learning
    Repository. https://doi.org/10.24432/C50P49 (the data behind ``sklearn.datasets.load_digits``).
    Ng, A. *Improving Deep Neural Networks*, course 2, week 2: exponentially weighted averages of daily
    temperatures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

__all__ = [
    "Dataset",
    "LeastSquares",
    "Temperatures",
    "digits",
    "least_squares",
    "linear_regression_2d",
    "seattle_weather",
]


class Dataset(NamedTuple):
    """A train/test split of tensors, the form :func:`lib.train.train` consumes.

    ``X_test``/``y_test`` are ``None`` for a dataset without a held-out part.
    """

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor | None = None
    y_test: torch.Tensor | None = None

    @property
    def n_classes(self) -> int:
        """Number of classes (``max label + 1``) of a classification dataset."""
        return int(self.y_train.max()) + 1

    def images(self, shape: tuple[int, ...] = (1, 8, 8)) -> Dataset:
        """The same data with each example reshaped to ``shape`` (default: one 8×8 channel, for a CNN)."""
        return self._replace(
            X_train=self.X_train.reshape(-1, *shape),
            X_test=None if self.X_test is None else self.X_test.reshape(-1, *shape),
        )


def digits(
    test_size: float = 0.25,
    seed: int = 0,
    standardize: bool = True,
    dtype: torch.dtype = torch.float32,
) -> Dataset:
    r"""scikit-learn's bundled handwritten digits as a stratified train/test split of torch tensors.

    ``X`` has shape ``(N, 64)`` (pixel intensities 0–16, row-major 8×8); ``y`` holds the labels 0–9 as
    ``int64``. With ``standardize`` every pixel is centred and scaled with the *training* statistics,
    :math:`x \leftarrow (x - \mu_{\text{train}}) / \sigma_{\text{train}}` (pixels that are constant in the
    training part, such as the always-blank corners, are only centred). ``Dataset.images()`` gives the
    ``(N, 1, 8, 8)`` form for a convolutional net.

    With the defaults the split has 1 347 training and 450 test examples; it depends only on ``seed``.

    References:
        Alpaydin & Kaynak (1998), UCI optical recognition of handwritten digits;
        scikit-learn ``sklearn.datasets.load_digits``.
    """
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be in (0, 1), got {test_size}")
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        bunch.data, bunch.target, test_size=test_size, random_state=seed, stratify=bunch.target
    )
    if standardize:
        mu = X_train.mean(axis=0)
        sigma = X_train.std(axis=0)
        sigma[sigma == 0.0] = 1.0
        X_train, X_test = (X_train - mu) / sigma, (X_test - mu) / sigma
    return Dataset(
        torch.as_tensor(X_train, dtype=dtype),
        torch.as_tensor(y_train, dtype=torch.int64),
        torch.as_tensor(X_test, dtype=dtype),
        torch.as_tensor(y_test, dtype=torch.int64),
    )


class Temperatures(NamedTuple):
    """Daily temperatures in °C: ``temp`` is the mean of the daily maximum and minimum."""

    dates: np.ndarray  # datetime64[D], shape (days,)
    temp: np.ndarray  # float64, (temp_max + temp_min) / 2
    temp_max: np.ndarray
    temp_min: np.ndarray


def seattle_weather(year: int | None = None) -> Temperatures:
    r"""Daily temperatures in Seattle (2012-01-01 … 2015-12-31, 1 461 days) from vega_datasets' local copy.

    The series for the exponentially weighted average lesson,
    :math:`v_t = \beta v_{t-1} + (1-\beta)\,\theta_t`, where :math:`\theta_t` is the day's mean temperature
    ``(temp_max + temp_min) / 2`` in °C. ``year`` selects one calendar year (2012–2015).

    References:
        vega-datasets ``seattle-weather.csv`` (NOAA daily records, Seattle);
        Ng, *Improving Deep Neural Networks*, course 2, week 2 (exponentially weighted averages).
    """
    from vega_datasets import local_data

    frame = local_data.seattle_weather()
    dates = frame["date"].to_numpy().astype("datetime64[D]")
    if year is not None:
        years = dates.astype("datetime64[Y]").astype(int) + 1970
        if year not in set(years.tolist()):
            raise ValueError(f"year must be one of 2012, 2013, 2014, 2015, got {year}")
        frame, dates = frame[years == year], dates[years == year]
    temp_max = frame["temp_max"].to_numpy(dtype=np.float64)
    temp_min = frame["temp_min"].to_numpy(dtype=np.float64)
    return Temperatures(dates, (temp_max + temp_min) / 2.0, temp_max, temp_min)


@dataclass(frozen=True, eq=False)
class LeastSquares:
    r"""A least-squares problem with its exact answer, :math:`L(\theta) = \frac1n \lVert X\theta - y\rVert^2`.

    The loss is the *mean* squared residual, the same as ``torch.nn.functional.mse_loss`` of a bias-free
    linear model (``lib.train`` with ``loss="mse"``), so a trained model can be compared with ``loss_star``.
    Gradient and Hessian: :math:`\nabla L = \frac2n X^\top (X\theta - y)`, :math:`H = \frac2n X^\top X`;
    a mini-batch :math:`B` gives :math:`\nabla L_B = \frac2{|B|} X_B^\top (X_B\theta - y_B)`.

    Attributes are numpy ``float64`` arrays: ``X (n, d)``, ``y (n,)``, ``theta_true (d,)`` (the parameters
    that generated ``y``), ``theta_star (d,)`` (the exact minimizer of the finite sum) and ``loss_star``.

    References:
        Golub & Van Loan, *Matrix Computations* (4th ed., 2013), §5.3 (the least-squares problem).
    """

    X: np.ndarray
    y: np.ndarray
    theta_true: np.ndarray
    theta_star: np.ndarray
    loss_star: float

    @property
    def hessian(self) -> np.ndarray:
        """The constant Hessian :math:`\\frac2n X^\\top X`, shape ``(d, d)``."""
        return 2.0 / len(self.y) * self.X.T @ self.X

    def _residual(self, theta, idx):
        X, y = (self.X, self.y) if idx is None else (self.X[idx], self.y[idx])
        return X, (X @ np.asarray(theta)[..., :, None])[..., 0] - y

    def loss(self, theta, idx=None) -> np.ndarray:
        """Loss at ``theta`` of shape ``(..., d)``, on all examples or on the mini-batch ``idx``."""
        _, r = self._residual(theta, idx)
        return np.mean(r * r, axis=-1)

    def grad(self, theta, idx=None) -> np.ndarray:
        """Gradient at ``theta (..., d)``; ``idx``: one mini-batch ``(b,)`` or one per start ``(..., b)``."""
        X, r = self._residual(theta, idx)
        return 2.0 / r.shape[-1] * (r[..., None, :] @ X)[..., 0, :]

    def dataset(self, dtype: torch.dtype = torch.float64) -> Dataset:
        """The examples as a :class:`Dataset` (no test part), for :func:`lib.train.train` with ``loss="mse"``.

        References:
            Golub & Van Loan (2013), §5.3.
        """
        return Dataset(torch.as_tensor(self.X, dtype=dtype), torch.as_tensor(self.y, dtype=dtype))


def _solve(X: np.ndarray, y: np.ndarray, theta_true: np.ndarray) -> LeastSquares:
    theta_star = np.linalg.lstsq(X, y, rcond=None)[0]
    r = X @ theta_star - y
    return LeastSquares(X, y, theta_true, theta_star, float(np.mean(r * r)))


def least_squares(n: int = 200, d: int = 10, noise: float = 0.1, seed: int = 0) -> LeastSquares:
    r"""A random over-determined least-squares problem: :math:`y = X\theta_{\text{true}} + \sigma\varepsilon`.

    :math:`X_{ij}, (\theta_{\text{true}})_j, \varepsilon_i \sim \mathcal N(0, 1)` independently, with
    ``noise`` :math:`=\sigma`. The exact minimizer :math:`\theta^\star = (X^\top X)^{-1} X^\top y` and the
    minimum loss are computed by ``numpy.linalg.lstsq``; :math:`\mathbb E[L(\theta^\star)] =
    \sigma^2 (n-d)/n` is the noise floor no optimizer can beat.

    References:
        Golub & Van Loan, *Matrix Computations* (4th ed., 2013), §5.3.
    """
    if n < d or d < 1:
        raise ValueError(f"need n >= d >= 1 for a unique minimizer, got n={n}, d={d}")
    if noise < 0:
        raise ValueError(f"noise must be non-negative, got {noise}")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    theta_true = rng.standard_normal(d)
    y = X @ theta_true + noise * rng.standard_normal(n)
    return _solve(X, y, theta_true)


def linear_regression_2d(
    n: int = 64,
    noise: float = 0.5,
    seed: int = 0,
    slope: float = 2.0,
    intercept: float = -1.0,
) -> LeastSquares:
    r"""A line fitted to ``n`` noisy points: two parameters :math:`\theta = (w, b)` and an exact answer.

    :math:`x_i \sim \mathcal N(1, 1)`, :math:`y_i = w x_i + b + \sigma\varepsilon_i`; the design matrix is
    ``X = [x, 1]`` so ``theta = (slope, intercept)``. Because the inputs are not centred, :math:`w` and
    :math:`b` are coupled and the loss contours are tilted ellipses (Hessian condition number 8.5 with the
    defaults): a 2-D picture on which mini-batch gradient descent visibly wanders around
    :math:`\theta^\star`. The inputs are ``X[:, 0]``.

    References:
        Golub & Van Loan, *Matrix Computations* (4th ed., 2013), §5.3.
    """
    if n < 2:
        raise ValueError(f"n must be at least 2, got {n}")
    if noise < 0:
        raise ValueError(f"noise must be non-negative, got {noise}")
    rng = np.random.default_rng(seed)
    x = 1.0 + rng.standard_normal(n)
    X = np.stack([x, np.ones(n)], axis=1)
    theta_true = np.array([slope, intercept], dtype=np.float64)
    y = X @ theta_true + noise * rng.standard_normal(n)
    return _solve(X, y, theta_true)
