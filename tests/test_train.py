"""lib.train: determinism, agreement with torch.optim, stacked == one at a time, divergence, bookkeeping."""

import io
import math

import numpy as np
import pytest
import torch

from lib import data, models, optim, rules, schedules, train

FIELDS = ("loss", "lr", "eval_step", "epoch", "train_loss", "train_acc", "test_loss", "test_acc")


@pytest.fixture(scope="module")
def digits64():
    # overrides conftest's: a larger stratified subset, 300 training and 100 test examples, still fast
    d = data.digits(dtype=torch.float64)
    return data.Dataset(d.X_train[:300], d.y_train[:300], d.X_test[:100], d.y_test[:100])


def tiny(seed, dtype=torch.float64):
    return models.mlp([64, 8, 10], seed=seed, dtype=dtype)


def assert_same_history(a, b, rtol=0.0, atol=0.0):
    for name in FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.shape == y.shape, name
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, equal_nan=True, err_msg=name)
    assert (a.diverged, a.diverged_at) == (b.diverged, b.diverged_at)


# ---------------------------------------------------------------------------------------------- single runs
def test_two_runs_identical(digits64):
    runs = [train.train(tiny(0), "adam", digits64, hparams={"eta": 1e-2}, epochs=2, batch_size=32, seed=5)
            for _ in range(2)]
    assert_same_history(*runs)
    other = train.train(tiny(0), "adam", digits64, hparams={"eta": 1e-2}, epochs=2, batch_size=32, seed=6)
    assert not np.array_equal(runs[0].loss, other.loss)  # the seed sets the data order


def test_history_bookkeeping(digits64):
    h = train.train(tiny(0), "gd", digits64, hparams={"eta": 0.1}, epochs=3, batch_size=64)
    assert h.updates_per_epoch == 5 and h.batch_size == 64 and h.steps == 15  # 300 = 4 * 64 + 44
    np.testing.assert_array_equal(h.eval_step, [0, 5, 10, 15])
    np.testing.assert_array_equal(h.epoch, [0, 1, 2, 3])
    assert h.time.shape == (15,) and np.all(h.time > 0) and h.seconds >= h.time.sum()
    np.testing.assert_array_equal(h.lr, np.full(15, 0.1))
    assert np.all((h.train_acc >= 0) & (h.train_acc <= 1)) and h.train_loss[-1] < h.train_loss[0]
    assert not h.diverged and h.diverged_at == -1
    by_steps = train.train(tiny(0), "gd", digits64, hparams={"eta": 0.1}, steps=7, batch_size=64, eval_every=3)
    np.testing.assert_array_equal(by_steps.eval_step, [0, 3, 6, 7])
    np.testing.assert_allclose(by_steps.epoch, [0, 0.6, 1.2, 1.4])
    assert_same_history(  # the first 7 updates of the 3-epoch run
        train.History(**{**by_steps.__dict__, "eval_step": h.eval_step[:2], "epoch": h.epoch[:2],
                         **{k: getattr(h, k)[:2] for k in FIELDS[4:]}}),
        train.History(**{**h.__dict__, "loss": h.loss[:7], "lr": h.lr[:7], "eval_step": h.eval_step[:2],
                         "epoch": h.epoch[:2], **{k: getattr(h, k)[:2] for k in FIELDS[4:]}}),
    )


def test_rule_name_and_optimizers_agree(digits64):
    by_rule = train.train(tiny(1), "momentum", digits64, hparams={"eta": 0.05, "beta": 0.9, "nesterov": True},
                          epochs=2, batch_size=50, seed=2)
    for Optimizer in (torch.optim.SGD, optim.SGD):
        model = tiny(1)
        opt = Optimizer(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
        assert_same_history(by_rule, train.train(model, opt, digits64, epochs=2, batch_size=50, seed=2),
                            rtol=1e-12, atol=1e-14)


def test_schedule_sets_the_learning_rate(digits64):
    s = schedules.exponential(0.2, 0.5)
    h = train.train(tiny(0), "gd", digits64, schedule=s, epochs=3, batch_size=100)
    np.testing.assert_allclose(h.lr, np.repeat([0.2, 0.1, 0.05], 3))
    model = tiny(0)
    h_opt = train.train(model, torch.optim.SGD(model.parameters(), lr=9.0), digits64, schedule=s, epochs=3,
                        batch_size=100)
    assert_same_history(h, h_opt, rtol=1e-12, atol=1e-14)
    per_step = train.train(tiny(0), "gd", digits64, schedule=s, schedule_unit="step", steps=3, batch_size=100)
    np.testing.assert_allclose(per_step.lr, [0.2, 0.1, 0.05])


def test_least_squares_reaches_the_known_minimum():
    problem = data.least_squares(n=60, d=3, noise=0.1, seed=0)
    model = models.linear_regression(3, seed=0)
    eta = 1.0 / np.linalg.eigvalsh(problem.hessian).max()
    h = train.train(model, "gd", problem, hparams={"eta": eta}, steps=300, loss="mse", eval_every=300)
    np.testing.assert_allclose(model.weight.detach().numpy()[0], problem.theta_star, atol=1e-8)
    assert h.train_loss[-1] == pytest.approx(problem.loss_star, rel=1e-10)
    assert np.isnan(h.train_acc).all() and np.isnan(h.test_loss).all()


def test_custom_loss_and_plain_tuples(digits64):
    def loss(out, y):
        return torch.nn.functional.cross_entropy(out, y) + 0.0 * out.sum()

    X, y = digits64.X_train.numpy(), digits64.y_train.numpy()
    a = train.train(tiny(0), "gd", (X, y), hparams={"eta": 0.1}, loss=loss, epochs=1, batch_size=100)
    b = train.train(tiny(0), "gd", digits64[:2], hparams={"eta": 0.1}, epochs=1, batch_size=100)
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-12)
    stacked = train.train_stacked(tiny, np.array([0]), "gd", (X, y), hparams={"eta": 0.1}, loss=loss, epochs=1,
                                  batch_size=100)
    assert_same_history(stacked.copy(0), a, rtol=1e-12)


def test_divergence_stops_the_run_and_is_reported(digits64):
    # gradient descent on a quadratic with eta > 2 / lambda_max: |error| grows geometrically until overflow
    problem = data.least_squares(n=40, d=3, seed=0)
    eta = 5.0 / np.linalg.eigvalsh(problem.hessian).max()
    h = train.train(models.linear_regression(3), "gd", problem, hparams={"eta": eta}, steps=1000, loss="mse")
    assert h.diverged and 100 < h.diverged_at < 1000
    assert len(h.loss) == h.diverged_at and np.isfinite(h.loss).all() and np.isfinite(h.train_loss).all()
    assert h.loss[-1] > 1e100
    # a cross-entropy network rarely overflows (the loss grows only linearly in the logits): use max_loss
    capped = train.train(tiny(0), "gd", digits64, hparams={"eta": 1e3}, epochs=3, batch_size=50, max_loss=10.0)
    assert capped.diverged and capped.diverged_at < 18 and np.all(capped.loss <= 10.0)


# ---------------------------------------------------------------------------------------------- stacked runs
@pytest.mark.parametrize(
    ("rule", "hparams"),
    [
        ("gd", {"eta": [0.05, 0.2, 0.1]}),
        ("momentum", {"eta": [0.05, 0.02, 0.05], "beta": [0.5, 0.9, 0.99]}),
        ("adam", {"eta": [1e-3, 1e-2, 3e-2], "beta1": [0.0, 0.9, 0.5], "beta2": 0.99}),
        ("rmsprop", {"eta": [1e-3, 1e-2, 3e-3], "alpha": [0.9, 0.99, 0.5], "centered": True}),
    ],
)
def test_stacked_equals_one_at_a_time(digits64, rule, hparams):
    seeds = [0, 1, 2]
    stacked = train.train_stacked(tiny, seeds, rule, digits64, hparams=hparams, epochs=2, batch_size=32)
    assert stacked.loss.shape == (3, 20) and stacked.train_loss.shape == (3, 3)
    for c, seed in enumerate(seeds):
        hp = {k: v[c] if isinstance(v, list) else v for k, v in hparams.items()}
        model = tiny(seed)
        alone = train.train(model, rule, digits64, hparams=hp, epochs=2, batch_size=32, seed=seed)
        assert_same_history(stacked.copy(c), alone, rtol=1e-10, atol=1e-12)
        copy_model = stacked.load_copy(tiny(99), c)
        for p, q in zip(copy_model.parameters(), model.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(stacked.hparams["eta"], hparams["eta"])


def test_stacked_matches_torch_adam_with_schedules_and_data_seeds(digits64):
    lr0s = [3e-3, 1e-2]
    stack = [schedules.cosine(lr0, 4) for lr0 in lr0s]
    stacked = train.train_stacked(tiny, 7, "adam", digits64, schedule=stack, schedule_unit="step", steps=6,
                                  batch_size=64, data_seeds=[3, 4], eval_every=2)
    np.testing.assert_array_equal(stacked.seeds, [7, 7])
    for c in range(2):
        model = tiny(7)
        alone = train.train(model, torch.optim.Adam(model.parameters(), lr=1.0), digits64, schedule=stack[c],
                            schedule_unit="step", steps=6, batch_size=64, seed=3 + c, eval_every=2)
        assert_same_history(stacked.copy(c), alone, rtol=1e-10, atol=1e-12)


def test_stacked_full_batch_and_cnn(digits64):
    images = digits64.images()

    def cnn(seed):
        return models.small_cnn(seed=seed, dtype=torch.float64)

    stacked = train.train_stacked(cnn, [0, 1], "adam", images, hparams={"eta": 0.01}, steps=3)
    assert stacked.batch_size == 300 and stacked.updates_per_epoch == 1
    for c in range(2):
        alone = train.train(cnn(c), "adam", images, hparams={"eta": 0.01}, steps=3, seed=c)
        assert_same_history(stacked.copy(c), alone, rtol=1e-10, atol=1e-12)


def test_stacked_runs_are_deterministic(digits64):
    runs = [train.train_stacked(tiny, [0, 1], "adam", digits64, hparams={"eta": [1e-2, 1e-3]}, epochs=1,
                                batch_size=50) for _ in range(2)]
    assert_same_history(runs[0].copy(1), runs[1].copy(1))
    np.testing.assert_array_equal(runs[0].loss, runs[1].loss)


def test_divergent_copies_are_frozen_without_poisoning_the_others(digits64):
    etas = [0.1, 1e3, 0.05]
    stacked = train.train_stacked(tiny, 0, "gd", digits64, hparams={"eta": etas}, epochs=3, batch_size=50,
                                  max_loss=10.0)
    np.testing.assert_array_equal(stacked.diverged, [False, True, False])
    assert stacked.diverged_at[0] == -1 and stacked.diverged_at[1] > 0
    assert np.isnan(stacked.loss[1, stacked.diverged_at[1]:]).all()
    assert np.isnan(stacked.train_loss[1, -1]) and np.isfinite(stacked.train_loss[[0, 2]]).all()
    for c in range(3):
        alone = train.train(tiny(0), "gd", digits64, hparams={"eta": etas[c]}, epochs=3, batch_size=50,
                            max_loss=10.0)
        assert_same_history(stacked.copy(c), alone, rtol=1e-10, atol=1e-12)
    everyone = train.train_stacked(tiny, [0, 1], "gd", digits64, hparams={"eta": 1e3}, epochs=5, batch_size=50,
                                   max_loss=10.0)
    assert everyone.diverged.all() and everyone.loss.shape[1] == everyone.diverged_at.max() < 30
    # the evaluations the stopped run never reached are NaN: one per planned epoch, plus the start
    per_epoch = everyone.updates_per_epoch
    assert everyone.train_loss.shape == (2, 6) and list(everyone.eval_step) == [per_epoch * e for e in range(6)]
    assert np.isnan(everyone.train_loss[:, -1]).all()


def test_non_finite_copy_does_not_poison_the_others():
    problem = data.least_squares(n=40, d=3, seed=0)
    etas = 1.0 / np.linalg.eigvalsh(problem.hessian).max() * np.array([1.0, 5.0])
    stacked = train.train_stacked(lambda s: models.linear_regression(3, seed=s), 0, "gd", problem,
                                  hparams={"eta": etas}, steps=1000, loss="mse", eval_every=250)
    assert not stacked.diverged[0] and stacked.diverged[1]
    assert stacked.params["weight"][1].abs().max() > 1e100  # frozen where its loss overflowed
    np.testing.assert_allclose(stacked.params["weight"][0, 0].numpy(), problem.theta_star, atol=1e-10)
    alone = train.train(models.linear_regression(3), "gd", problem, hparams={"eta": etas[1]}, steps=1000,
                        loss="mse", eval_every=250)
    assert_same_history(stacked.copy(1), alone, rtol=1e-10)


@pytest.mark.parametrize("rule", sorted(rules.RULES))
def test_every_rule_stacked_equals_one_at_a_time_on_every_backend(digits64, rule):
    # float64: the batched path (hand-written backward, in-place fused rule) and the vmap path give each copy's
    # own numbers to rounding, for every rule of lib.rules, with per-copy learning rates
    hp = {"eta": [1e-3, 3e-3] if rule not in ("gd", "momentum", "nesterov", "lee_momentum", "ewma_momentum")
          else [0.05, 0.1]}
    runs = {b: train.train_stacked(tiny, [0, 1], rule, digits64, hparams=hp, epochs=2, batch_size=64, backend=b)
            for b in ("bmm", "vmap", "autograd")}
    for c in range(2):
        alone = train.train(tiny(c), rule, digits64, hparams={"eta": hp["eta"][c]}, epochs=2, batch_size=64, seed=c)
        for stacked in runs.values():
            assert_same_history(stacked.copy(c), alone, rtol=1e-10, atol=1e-12)
    for name in runs["bmm"].params:
        torch.testing.assert_close(runs["bmm"].params[name], runs["vmap"].params[name], rtol=1e-10, atol=1e-12)


def test_stacked_float32_within_rounding(digits64):
    d32 = data.Dataset(*(t.float() if t.is_floating_point() else t for t in digits64))
    stacked = train.train_stacked(lambda s: tiny(s, torch.float32), [0, 1, 2], "adam", d32,
                                  hparams={"eta": [1e-3, 1e-2, 3e-3]}, epochs=2, batch_size=32)
    for c in range(3):
        alone = train.train(tiny(c, torch.float32), "adam", d32, hparams={"eta": [1e-3, 1e-2, 3e-3][c]}, epochs=2,
                            batch_size=32, seed=c)
        assert_same_history(stacked.copy(c), alone, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("model_fn", "loss"),
    [
        (lambda s: models.mlp([64, 8, 6, 10], activation="relu", seed=s, dtype=torch.float64), "cross_entropy"),
        (lambda s: models.logistic_regression(64, seed=s, dtype=torch.float64), "cross_entropy"),
        (lambda s: models.mlp([64, 8, 10], seed=s, dtype=torch.float64), "softmax_mse"),
    ],
)
def test_batched_path_covers_relu_linear_and_other_losses(digits64, model_fn, loss):
    kwargs = {"hparams": {"eta": [0.05, 0.1]}, "epochs": 2, "batch_size": 50, "loss": loss}
    stacked = train.train_stacked(model_fn, [0, 1], "momentum", digits64, backend="bmm", **kwargs)
    assert not np.isnan(stacked.loss).any()
    for c in range(2):
        alone = train.train(model_fn(c), "momentum", digits64, hparams={"eta": kwargs["hparams"]["eta"][c]},
                            epochs=2, batch_size=50, loss=loss, seed=c)
        assert_same_history(stacked.copy(c), alone, rtol=1e-10, atol=1e-12)


def test_batched_least_squares_and_full_batch():
    problem = data.least_squares(n=60, d=3, noise=0.1, seed=0)
    eta = 1.0 / np.linalg.eigvalsh(problem.hessian).max()
    stacked = train.train_stacked(lambda s: models.linear_regression(3, seed=s), [0, 1], "gd", problem,
                                  hparams={"eta": eta}, steps=300, loss="mse", eval_every=300, backend="bmm")
    np.testing.assert_allclose(stacked.params["weight"][:, 0].numpy(), np.tile(problem.theta_star, (2, 1)),
                               atol=1e-8)
    alone = train.train(models.linear_regression(3, seed=1), "gd", problem, hparams={"eta": eta}, steps=300,
                        loss="mse", eval_every=300)
    assert_same_history(stacked.copy(1), alone, rtol=1e-10, atol=1e-14)


def test_custom_rule_and_divergence_on_the_batched_path(digits64):
    # a rule that is not lib.rules' own is called without inplace (it may record its step); divergence of one
    # copy switches the update to the masked form and the others go on unchanged
    calls = []
    adam = rules.RULES["adam"]

    def update(g, state, theta, **hp):
        calls.append(hp.get("inplace", False))
        return adam.update(g, state, theta, **hp)

    custom = adam._replace(name="recorded", update=update)
    etas = [1e-2, 50.0, 3e-3]
    runs = [train.train_stacked(tiny, 0, r, digits64, hparams={"eta": etas}, epochs=3, batch_size=50, max_loss=5.0)
            for r in ("adam", custom)]
    assert not any(calls)
    for stacked in runs:
        np.testing.assert_array_equal(stacked.diverged, [False, True, False])
        for c in (0, 2):
            alone = train.train(tiny(0), "adam", digits64, hparams={"eta": etas[c]}, epochs=3, batch_size=50,
                                max_loss=5.0)
            assert_same_history(stacked.copy(c), alone, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(runs[0].loss, runs[1].loss, rtol=1e-10, atol=1e-12)  # fused vs returned step


# ------------------------------------------------------------------------------------ environment, validation
def test_progress_switch(monkeypatch):
    monkeypatch.delenv("LIB_PROGRESS", raising=False)
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert train.progress_enabled(True) and not train.progress_enabled(False)
    assert not train.progress_enabled(None)  # not a terminal, not a kernel
    monkeypatch.setenv("LIB_PROGRESS", "0")
    assert not train.progress_enabled(True)


def test_threads_are_restored(digits64):
    before = torch.get_num_threads()
    train.train(tiny(0), "gd", digits64, hparams={"eta": 0.1}, steps=2, threads=1)
    assert torch.get_num_threads() == before
    with train.num_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_global_generator_untouched(digits64):
    state = torch.random.get_rng_state()
    train.train(tiny(0), "gd", digits64, hparams={"eta": 0.1}, steps=3, batch_size=50)
    train.train_stacked(tiny, [0, 1], "gd", digits64, hparams={"eta": 0.1}, steps=3, batch_size=50)
    assert torch.equal(torch.random.get_rng_state(), state)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"epochs": 1, "steps": 1}, "exactly one of epochs and steps"),
        ({}, "exactly one of epochs and steps"),
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"epochs": 1, "batch_size": 0}, "batch_size"),
        ({"epochs": 1, "optimizer": "lbfgs"}, "Invalid rule: 'lbfgs'"),
        ({"epochs": 1, "hparams": {"eta": 0.1, "beta": 0.9}}, "Invalid hyperparameter for rule 'gd': 'beta'"),
        ({"epochs": 1, "hparams": {}}, "must give 'eta'"),
        ({"epochs": 1, "schedule": schedules.constant(0.1)}, "either hparams\\['eta'\\] or a schedule"),
        ({"epochs": 1, "loss": "hinge"}, "loss must be one of"),
        ({"epochs": 1, "schedule_unit": "batch", "hparams": {"eta": 0.1}}, "schedule_unit"),
        ({"epochs": 1, "eval_every": 0, "hparams": {"eta": 0.1}}, "eval_every"),
        ({"epochs": 1, "threads": 0, "hparams": {"eta": 0.1}}, "threads"),
    ],
)
def test_train_rejects_bad_arguments(digits64, kwargs, match):
    kwargs = {"optimizer": "gd", "hparams": {"eta": 0.1}, **kwargs}
    with pytest.raises(ValueError, match=match):
        train.train(tiny(0), kwargs.pop("optimizer"), digits64, **kwargs)


def test_train_rejects_hparams_with_an_optimizer(digits64):
    model = tiny(0)
    with pytest.raises(ValueError, match="hparams are for a lib.rules name"):
        train.train(model, torch.optim.SGD(model.parameters(), lr=0.1), digits64, hparams={"eta": 0.1}, epochs=1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"seeds": [0, 1], "hparams": {"eta": [0.1, 0.2, 0.3]}}, "one length C"),
        ({"hparams": {"eta": 0.1, "nesterov": [True, False]}, "rule": "momentum"}, "same for all copies"),
        ({"hparams": {"eta": 0.1, "momentum": [0.0, 0.5]}, "rule": "rmsprop"}, "branches on one of"),
        ({"hparams": {"eta": [[0.1]]}}, "scalar or 1-D"),
        ({"data_seeds": [1, 2, 3]}, "data_seeds must have length"),
        ({"backend": "jit"}, "backend must be one of"),
        ({"backend": "bmm", "loss": lambda out, y: out.sum()}, "backend 'bmm' needs an mlp"),
    ],
)
def test_train_stacked_rejects_bad_arguments(digits64, kwargs, match):
    kwargs = {"seeds": [0, 1], "rule": "gd", "hparams": {"eta": 0.1}, **kwargs}
    with pytest.raises(ValueError, match=match):
        train.train_stacked(tiny, kwargs.pop("seeds"), kwargs.pop("rule"), digits64, steps=1, **kwargs)


def test_copy_index_checked(digits64):
    stacked = train.train_stacked(tiny, [0, 1], "gd", digits64, hparams={"eta": 0.1}, steps=1)
    with pytest.raises(ValueError, match="c must be in"):
        stacked.copy(2)
    assert stacked.n_copies == 2 and math.isfinite(stacked.copy(-1).loss[0])
