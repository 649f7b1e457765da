"""lib.data: shapes, dtypes, determinism, offline loading, and the exact answers of the synthetic problems."""

import socket
import urllib.request

import numpy as np
import pytest
import torch

from lib import data


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def test_digits_shapes_dtypes_and_split(offline):
    d = data.digits()
    assert d.X_train.shape == (1347, 64) and d.X_test.shape == (450, 64)
    assert d.X_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert d.n_classes == 10
    assert sorted(torch.unique(d.y_train).tolist()) == list(range(10))
    # stratified: every class keeps about its share in the test part
    assert torch.bincount(d.y_test, minlength=10).min() >= 40
    images = d.images()
    assert images.X_train.shape == (1347, 1, 8, 8) and images.X_test.shape == (450, 1, 8, 8)
    assert torch.equal(images.X_train.reshape(1347, 64), d.X_train)


def test_digits_standardized_with_training_statistics():
    d = data.digits(dtype=torch.float64)
    assert d.X_train.dtype == torch.float64
    mean, std = d.X_train.mean(0), d.X_train.std(0, unbiased=False)
    assert mean.abs().max() < 1e-12
    varying = std > 0
    assert torch.allclose(std[varying], torch.ones_like(std[varying]))
    raw = data.digits(standardize=False)
    assert raw.X_train.min() == 0 and raw.X_train.max() == 16


def test_digits_deterministic_and_seeded():
    a, b, c = data.digits(seed=3), data.digits(seed=3), data.digits(seed=4)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a.y_train, c.y_train)
    smaller = data.digits(test_size=0.5)
    assert len(smaller.X_test) == 899


@pytest.mark.parametrize("kwargs", [{"test_size": 0.0}, {"test_size": 1.2}, {"dtype": torch.float16}])
def test_digits_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="test_size|dtype"):
        data.digits(**kwargs)


def test_seattle_weather_offline_daily_series(offline):
    w = data.seattle_weather()
    assert len(w.dates) == len(w.temp) == 1461
    assert w.dates.dtype == np.dtype("datetime64[D]")
    assert str(w.dates[0]) == "2012-01-01" and str(w.dates[-1]) == "2015-12-31"
    assert np.all(np.diff(w.dates).astype(int) == 1)
    np.testing.assert_allclose(w.temp, (w.temp_max + w.temp_min) / 2)
    assert np.all(w.temp_min <= w.temp_max)
    assert -15 < w.temp.min() < 5 < 20 < w.temp.max() < 35  # °C, a temperate city
    summer, winter = w.temp[(w.dates >= np.datetime64("2013-07-01")) & (w.dates < np.datetime64("2013-08-01"))], \
        w.temp[(w.dates >= np.datetime64("2013-01-01")) & (w.dates < np.datetime64("2013-02-01"))]
    assert summer.mean() > winter.mean() + 10


def test_seattle_weather_one_year():
    w = data.seattle_weather(year=2013)
    assert len(w.temp) == 365 and str(w.dates[0]) == "2013-01-01"
    with pytest.raises(ValueError, match="year"):
        data.seattle_weather(year=2020)


def test_least_squares_exact_answer():
    p = data.least_squares(n=100, d=5, noise=0.3, seed=1)
    assert p.X.shape == (100, 5) and p.y.shape == (100,) and p.theta_star.shape == (5,)
    assert np.abs(p.grad(p.theta_star)).max() < 1e-12
    assert p.loss(p.theta_star) == pytest.approx(p.loss_star, rel=1e-12)
    assert p.loss_star < p.loss(p.theta_true) < p.loss(np.zeros(5))
    np.testing.assert_allclose(p.hessian, 2 / 100 * p.X.T @ p.X)
    # the loss is torch's mse of the bias-free linear model
    t = p.dataset()
    mse = torch.nn.functional.mse_loss(t.X_train @ torch.as_tensor(p.theta_true), t.y_train)
    assert mse.item() == pytest.approx(p.loss(p.theta_true), rel=1e-12)
    exact = data.least_squares(n=30, d=3, noise=0.0, seed=2)
    np.testing.assert_allclose(exact.theta_star, exact.theta_true, atol=1e-12)
    assert exact.loss_star < 1e-25


def test_least_squares_minibatch_gradients():
    p = data.least_squares(n=12, d=3, seed=0)
    theta = np.random.default_rng(0).standard_normal((4, 3))  # four starts
    batches = np.arange(12).reshape(3, 4)
    mean_of_batches = np.mean([p.grad(theta, idx) for idx in batches], axis=0)
    np.testing.assert_allclose(mean_of_batches, p.grad(theta), atol=1e-12)
    per_start = p.grad(theta, np.stack([batches[0], batches[1], batches[2], batches[0]]))
    np.testing.assert_allclose(per_start[1], p.grad(theta[1], batches[1]), atol=1e-12)
    assert p.loss(theta).shape == (4,) and p.loss(theta, batches[0]).shape == (4,)
    # the gradient is the derivative of the loss (central differences)
    e, h = np.eye(3), 1e-6
    numeric = [(p.loss(theta[0] + h * e[j]) - p.loss(theta[0] - h * e[j])) / (2 * h) for j in range(3)]
    np.testing.assert_allclose(p.grad(theta[0]), numeric, rtol=1e-6)


def test_least_squares_deterministic_and_validated():
    a, b = data.least_squares(seed=5), data.least_squares(seed=5)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y)
    with pytest.raises(ValueError, match="n >= d"):
        data.least_squares(n=3, d=5)
    with pytest.raises(ValueError, match="noise"):
        data.least_squares(noise=-1.0)


def test_linear_regression_2d():
    p = data.linear_regression_2d(n=64, noise=0.5, seed=0)
    assert p.X.shape == (64, 2) and np.all(p.X[:, 1] == 1.0)
    np.testing.assert_array_equal(p.theta_true, [2.0, -1.0])
    assert np.linalg.norm(p.theta_star - p.theta_true) < 0.5
    eigenvalues = np.linalg.eigvalsh(p.hessian)
    assert eigenvalues.min() > 0 and 3 < eigenvalues.max() / eigenvalues.min() < 30  # a tilted, elongated bowl
    assert data.linear_regression_2d(noise=0.0).loss_star < 1e-25
    with pytest.raises(ValueError, match="n must"):
        data.linear_regression_2d(n=1)
