"""Tests of lib.lessons.initialization: the mean field, the networks, the clipped rule and the explorer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import lib.data
import lib.lessons.initialization as ini
import lib.train


@pytest.fixture(scope="module")
def digits():
    return lib.data.digits(dtype=torch.float64)


@pytest.fixture(scope="module")
def probe(digits):
    return digits.X_train[:32], digits.y_train[:32]


def test_chi_closed_forms():
    for s in (0.5, 1.0, 1.5, 3.0):
        assert ini.chi("relu", s) == pytest.approx(s**2 / 2, rel=1e-12)
    for s in (0.3, 0.5, 0.9):  # q* = 0 below the edge, where tanh'(0) = 1
        assert ini.q_fixed_point("tanh", s) < 1e-6
        assert ini.chi("tanh", s) == pytest.approx(s**2, rel=1e-6)
    assert ini.q_fixed_point("tanh", 2.0) > 0.5 and 1.0 < ini.chi("tanh", 2.0) < 4.0
    assert ini.chi("sigmoid", 3.0) < 1.0  # φ' <= 1/4: still vanishing at σ_w = 3
    with pytest.raises(ValueError, match="Invalid sigma_w"):
        ini.chi("tanh", -1.0)
    with pytest.raises(ValueError, match="Invalid activation"):
        ini.chi("gelu", 1.0)


@pytest.mark.parametrize("activation, sigma_w", [("tanh", 2.0), ("tanh", 0.5), ("relu", 1.0), ("sigmoid", 2.0)])
def test_measured_factor_matches_the_mean_field(probe, activation, sigma_w):
    X, y = probe
    table = ini.gradient_table(X, y, [activation], [sigma_w], depth=30, seeds=(0, 1))
    assert np.all(np.abs(table["measured"] / table["chi"] - 1) < 0.15), table


def test_deep_mlp_schemes_have_the_promised_scale():
    for scheme, expected in (("normal 1", 1.0), ("normal 0.01", 0.01), ("scaled", 1.5 / 8.0),
                             ("xavier normal", math.sqrt(2 / 128)), ("kaiming fan_in", math.sqrt(2 / 64)),
                             ("orthogonal", math.sqrt(2 / 64))):
        model = ini.deep_mlp(3, 64, "relu", scheme, sigma_w=1.5, seed=0, dtype=torch.float64)
        w = model[2].weight  # a 64 x 64 hidden layer
        assert w.std().item() == pytest.approx(expected, rel=0.05), scheme
        assert torch.all(model[2].bias == 0)
    same = ini.deep_mlp(2, 16, "tanh", "constant", sigma_w=0.1)
    assert torch.all(same[0].weight == 0.1)
    a, b = ini.deep_mlp(4, 8, seed=3), ini.deep_mlp(4, 8, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    with pytest.raises(ValueError, match="Invalid scheme"):
        ini.deep_mlp(2, 8, scheme="lecun")
    with pytest.raises(ValueError, match="Invalid depth"):
        ini.deep_mlp(0, 8)


def test_gradient_profile_agrees_with_autograd(probe):
    X, y = probe
    model = ini.deep_mlp(4, 16, "tanh", "xavier normal", seed=1, dtype=torch.float64)
    p = ini.gradient_profile(model, X, y, "tanh")
    model.zero_grad()
    F.cross_entropy(model(X), y).backward()
    expected = [m.weight.grad.norm().item() for m in model if isinstance(m, torch.nn.Linear)]
    np.testing.assert_allclose(p.weight_grad, expected, rtol=1e-12)
    assert p.delta.shape == p.q.shape == p.saturated.shape == (4,)
    predicted = ini.predicted_profile("tanh", 1.0, p.q, p.delta[-1])
    assert predicted[-1] == p.delta[-1] and np.all(np.isfinite(predicted))


def test_clipped_rule_is_torchs_clip_grad_norm_per_copy(digits):
    X, y = digits.X_train[:200], digits.y_train[:200]
    data = lib.data.Dataset(X, y)
    h = lib.train.train_stacked(lambda s: ini.deep_mlp(4, 16, "relu", "scaled", sigma_w=2.0, seed=s,
                                                       dtype=torch.float64),
                                [0, 1], ini.CLIPPED_GD, data, hparams={"eta": 0.1, "max_norm": [0.5, math.inf]},
                                steps=60, progress=False)
    for copy, max_norm in ((0, 0.5), (1, math.inf)):
        model = ini.deep_mlp(4, 16, "relu", "scaled", sigma_w=2.0, seed=copy, dtype=torch.float64)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(60):
            opt.zero_grad()
            F.cross_entropy(model(X), y).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            opt.step()
        for name, p in model.named_parameters():
            torch.testing.assert_close(h.params[name][copy], p.detach(), rtol=1e-10, atol=1e-12)


def test_escape_step():
    loss = np.r_[np.full(50, 2.3), np.full(50, 1.0)]
    # the mean of the last 10 is below 2 once 3 of them are 1.0 (7 · 2.3 + 3 = 19.1 < 20): after update 53
    assert ini.escape_step(loss, 2.0, window=10) == 53
    assert ini.escape_step(np.full(100, 2.3), 2.0) == -1
    assert ini.escape_step(np.r_[np.full(30, np.nan)], 2.0) == -1


def test_symmetry_is_kept_by_equal_weights_and_broken_by_random_ones(digits):
    runs = ini.symmetry_runs(digits, [0, 1], steps=40, segments=2)
    t = runs.table.set_index(["setting", "seed"])
    assert (t.loc["all equal", "spread"] < 1e-12).all()
    assert (t.loc["random", "spread"] > 0.1).all() and (t.loc["random", "ratio"] > 0.1).all()
    assert runs.spread.shape == (3, 2) and runs.steps.tolist() == [0, 20, 40]


def test_small_training_runs(digits):
    schemes = ini.scheme_runs(digits, [0, 1], schemes=("normal 1", "kaiming fan_in"), steps=30, depth=8,
                              width=16)
    t = schemes.table.set_index(["scheme", "seed"])
    assert t.loc["normal 1", "diverged"].all() and not t.loc["kaiming fan_in", "diverged"].any()
    clip = ini.clipping_runs(digits, [(0.2, math.inf), (0.2, 1.0)], [0], steps=30, depth=6, width=16)
    assert clip.table["grad_norm0"].gt(1).all()
    c = clip.table.set_index(["max_norm", "seed"])
    for max_norm in (math.inf, 1.0):  # the cap binds on a fraction of the final mini-batches; never without one
        over = c.loc[(max_norm, 0), "over_cap"]
        assert math.isnan(over) if c.loc[(max_norm, 0), "diverged"] else 0 <= over <= 1
    assert not c.loc[(math.inf, 0), "over_cap"] > 0
    runs = ini.scale_runs(digits, [0.01, 0.2], [0], steps=120, early=60, depth=3, width=16)
    e = runs.table.set_index("scale")["escape"]
    assert e[0.01] == -1 and e[0.2] > 0


@pytest.mark.filterwarnings("error")
def test_explorer_sweeps_its_whole_control_space_without_warning(probe):
    X, y = probe
    explorer = ini.gradient_explorer(X, y)
    payload = explorer.payload()  # every combination of every control
    assert len(payload["index"]) == math.prod(explorer.shape) == 4 * 3 * 7
    texts = [" ".join(frame["t"]) for frame in payload["frames"]]
    assert any("vanishing" in t for t in texts) and any("exploding" in t for t in texts)
    html = explorer.static_html()
    assert 'data-explorer="initialization-gradients"' in html
    live = explorer.live()
    live.set(depth=5, activation="relu", sigma_w=3.0)
