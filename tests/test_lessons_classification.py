"""lib.lessons.classification: the two surfaces, the flat region, gradient descent, the digits runs, the explorer."""

import math

import numpy as np
import pytest
import torch

from lib import data, models
from lib.lessons import classification as cls


def probabilities(y1, y2):
    z = np.array([y1, y2, cls.Y3])
    e = np.exp(z - z.max())
    return e / e.sum()


@pytest.mark.parametrize("point", [(0.0, 0.0), (-4.0, 4.0), (3.0, -2.0), (9.0, 9.5)])
def test_surfaces_are_the_formulas(point):
    p = probabilities(*point)
    target = np.array([1.0, 0.0, 0.0])
    assert cls.loss_surface("mse").f(*point) == pytest.approx(((p - target) ** 2).sum(), rel=1e-12)
    assert cls.loss_surface("cross_entropy").f(*point) == pytest.approx(-math.log(p[0]), rel=1e-12)
    # gradient of CE w.r.t. (y1, y2) is p - target; MSE's by the chain rule through the softmax Jacobian
    g = cls.loss_surface("cross_entropy").df(*point)
    np.testing.assert_allclose(np.array(g, dtype=float), (p - target)[:2], rtol=1e-10, atol=1e-14)
    J = np.diag(p) - np.outer(p, p)
    g = cls.loss_surface("mse").df(*point)
    np.testing.assert_allclose(np.array(g, dtype=float), (J @ (2 * (p - target)))[:2], rtol=1e-10, atol=1e-14)


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="loss"):
        cls.loss_surface("hinge")


def test_flat_region_decays_like_exp_minus_s():
    ray = cls.ray_gradients([6.0, 8.0, 10.0, 12.0])
    assert cls.slope(ray["s"], ray["mse"]) == pytest.approx(-1.0, abs=0.02)
    np.testing.assert_allclose(ray["cross_entropy"].iloc[-1], math.sqrt(2), rtol=1e-4)
    assert (ray["p1"] < np.exp(-2 * ray["s"]) * 1.01).all()


def test_gradient_descent_corrects_under_cross_entropy_only():
    starts = np.array([[-6.0, 6.0]])
    ce = cls.descend("cross_entropy", starts, 1.0, 100)
    mse = cls.descend("mse", starts, 1.0, 100)
    assert 0 < cls.first_correct(ce.path)[0] < 20
    assert cls.first_correct(mse.path)[0] == -1
    assert mse.loss[0, -1] > 1.0 > ce.loss[0, -1]


def test_first_correct():
    path = np.array([[[-1.0, 0.5], [0.2, 0.5], [0.6, 0.5]], [[-1.0, 2.0], [-1.0, 2.0], [-1.0, 2.0]]])
    assert cls.first_correct(path).tolist() == [2, -1]


def test_nll_check():
    d = data.digits(dtype=torch.float64)
    ce, nll = cls.nll_check(models.mlp([64, 8, 10], seed=1, dtype=torch.float64), d.X_train[:50], d.y_train[:50])
    assert ce == pytest.approx(nll, rel=1e-12) and ce > 0


def test_digits_runs_small():
    d = data.digits()
    small = data.Dataset(d.X_train[:200], d.y_train[:200], d.X_test[:100], d.y_test[:100])
    runs = cls.digits_runs(small, etas={"mse": (10.0, 30.0), "cross_entropy": (0.3, 1.0)}, tune_seeds=(5,),
                           seeds=(0, 1), logit_scales=(1.0, 30.0), epochs=2, batch_size=50, tau=1e-3)
    assert set(runs.eta) == {"mse", "cross_entropy"}
    assert runs.eta["mse"] in (10.0, 30.0) and runs.eta["cross_entropy"] in (0.3, 1.0)
    assert len(runs.runs) == 2 * 2 * 2 and len(runs.tuning) == 2 * 2
    assert runs.runs["stuck"].between(0, 1).all() and runs.runs["train_acc"].between(0, 1).all()
    assert set(runs.curves["epoch"]) == {0.0, 1.0, 2.0}


def test_stuck_fraction_counts_confidently_wrong_examples():
    model = torch.nn.Linear(2, 3)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.copy_(torch.tensor([0.0, 30.0, 0.0]))  # every example predicts class 2, confidently
    params = {k: v.detach()[None] for k, v in model.named_parameters()}
    X, y = torch.zeros(4, 2), torch.tensor([0, 1, 0, 1])
    def model_fn(seed):
        return torch.nn.Linear(2, 3)
    assert cls.stuck_fraction(model_fn, params, X, y, "mse", 1e-3).tolist() == [0.5]
    assert cls.stuck_fraction(model_fn, params, X, y, "cross_entropy", 1e-3).tolist() == [0.0]


@pytest.mark.filterwarnings("error")
def test_explorer_sweeps_its_whole_control_space_without_warning():
    explorer = cls.path_explorer(steps=60, grid=41)
    payload = explorer.payload()  # every combination of every control, every view
    assert len(payload["frames"]) == math.prod(explorer.shape) == 2 * len(cls.STARTS) * 5
    texts = [" ".join(frame["t"]) for frame in payload["frames"]]
    assert any("still wrong" in t for t in texts) and any("class 1 wins" in t for t in texts)
    assert 'data-explorer="classification-paths"' in explorer.static_html()
    live = explorer.live()
    for loss in cls.LOSS_NAMES:
        live.set(loss=loss, start="very wrong (−6, 6)", eta=10.0)
