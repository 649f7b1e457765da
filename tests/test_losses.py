"""lib.losses against torch.nn.functional in float64: values, gradients, reductions, options and error messages."""

import inspect
import itertools
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch.func import grad, vmap

from lib import losses

G = torch.Generator().manual_seed(0)
N, K = 7, 5


def randn(*shape, scale=3.0):
    return (scale * torch.randn(shape, generator=G, dtype=torch.float64)).requires_grad_()


def value_and_grad(fn, *tensors):
    """``fn(*tensors)`` and the gradient of ``sum(out * r)`` (a fixed random cotangent) w.r.t. each tensor."""
    tensors = [t.detach().clone().requires_grad_(t.requires_grad) for t in tensors]
    out = fn(*tensors)
    cot = torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype).reshape(out.shape)
    wrt = [t for t in tensors if t.requires_grad]
    grads = torch.autograd.grad((out * cot).sum(), wrt, allow_unused=True) if wrt else []
    return out.detach(), [g if g is not None else torch.zeros_like(t) for g, t in zip(grads, wrt, strict=True)]


def assert_same(mine, theirs, *tensors, rtol=1e-12, atol=1e-12):
    v1, g1 = value_and_grad(mine, *tensors)
    v2, g2 = value_and_grad(theirs, *tensors)
    assert v1.shape == v2.shape and v1.dtype == v2.dtype
    torch.testing.assert_close(v1, v2, rtol=rtol, atol=atol, equal_nan=True)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol, equal_nan=True)


# ------------------------------------------------------------------------------------------ signatures
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "cross_entropy", "mse_loss"])
def test_signatures_are_torchs(name):
    ours, theirs = inspect.signature(getattr(losses, name)), inspect.signature(getattr(F, name))
    assert list(ours.parameters) == list(theirs.parameters)
    assert [p.default for p in ours.parameters.values()] == [p.default for p in theirs.parameters.values()]


# ------------------------------------------------------------------------------------------ softmax family
@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,dim", [((K,), 0), ((N, K), 1), ((N, K), 0), ((N, K), -1), ((2, 3, 4), 1),
                                       ((2, 3, 4), -1), ((2, 3, 4, 2), 2), ((), 0)])
def test_softmax_family_matches_torch(fn, shape, dim):
    x = randn(*shape)
    assert_same(lambda t: getattr(losses, fn)(t, dim), lambda t: getattr(F, fn)(t, dim), x)


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
def test_softmax_dtype_argument(fn):
    x = randn(N, K).float()
    assert_same(lambda t: getattr(losses, fn)(t, 1, dtype=torch.float64),
                lambda t: getattr(F, fn)(t, 1, dtype=torch.float64), x)


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("ndim", [1, 2, 3, 4])
def test_implicit_dim_warns_and_picks_torchs_dim(fn, ndim):
    x = randn(*[3] * ndim)
    with pytest.warns(UserWarning, match=f"Implicit dimension choice for {fn} has been deprecated") as ours:
        a = getattr(losses, fn)(x)
    with pytest.warns(UserWarning) as theirs:
        b = getattr(F, fn)(x)
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert str(ours[0].message) == str(theirs[0].message)


@pytest.mark.parametrize("scale", [1e2, 1e3, 1e4, 1e6])
def test_stable_for_huge_logits(scale):
    x = (scale * torch.tensor([[1.0, -1.0, 0.5], [-1.0, -1.0, 1.0], [1.0, 1.0, 1.0]], dtype=torch.float64))
    x.requires_grad_()
    for fn in ("softmax", "log_softmax"):
        assert_same(lambda t, fn=fn: getattr(losses, fn)(t, 1), lambda t, fn=fn: getattr(F, fn)(t, 1), x,
                    rtol=1e-10, atol=1e-10)
    y = torch.tensor([1, 0, 2])
    out, (g,) = value_and_grad(lambda t: losses.cross_entropy(t, y), x)
    assert torch.isfinite(out) and torch.isfinite(g).all()
    for dtype in (torch.float32, torch.float16) if scale <= 1e4 else ():  # no overflow in low precision either
        x32 = x.detach().to(dtype)
        assert torch.isfinite(losses.log_softmax(x32, 1)).all() and torch.isfinite(losses.softmax(x32, 1)).all()
        assert not torch.isnan(losses.cross_entropy(x32, y))


def test_naive_softmax_would_overflow():
    """The reason for the shift: exp(1e4) is inf, the unshifted formula gives NaN."""
    x = torch.tensor([1e4, 0.0], dtype=torch.float64)
    naive = x.exp() / x.exp().sum()
    assert torch.isnan(naive).any()
    assert torch.equal(losses.softmax(x, 0), torch.tensor([1.0, 0.0], dtype=torch.float64))


def test_infinite_logits_like_torch():
    inf = float("inf")
    for row in ([-inf, 1.0, 2.0], [-inf, -inf, -inf], [inf, 1.0, 0.0]):
        x = torch.tensor(row, dtype=torch.float64)
        for fn in ("softmax", "log_softmax"):
            torch.testing.assert_close(getattr(losses, fn)(x, 0), getattr(F, fn)(x, 0), equal_nan=True)


def test_softmax_jacobian_formula():
    y = randn(K).detach()
    s = losses.softmax(y, 0)
    J = torch.autograd.functional.jacobian(lambda t: losses.softmax(t, 0), y)
    torch.testing.assert_close(J, torch.diag(s) - torch.outer(s, s), rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------------------------------ cross-entropy
REDUCTIONS = ["mean", "sum", "none"]
SMOOTHING = [0.0, 0.1, 0.5, 1.0]


def class_targets(shape, ignore=None):
    t = torch.randint(0, K, shape, generator=G)
    if ignore is not None:
        t[torch.rand(shape, generator=G) < 0.3] = ignore
        t.view(-1)[0] = 1  # at least one kept
    return t


@pytest.mark.parametrize("reduction,label_smoothing,weighted,ignore",
                         list(itertools.product(REDUCTIONS, SMOOTHING, [False, True], [None, -100, 2])))
@pytest.mark.parametrize("shape", [(N, K), (3, K, 4), (2, K, 3, 2)])
def test_cross_entropy_class_indices(shape, reduction, label_smoothing, weighted, ignore):
    x = randn(*shape)
    y = class_targets((shape[0], *shape[2:]), ignore)
    w = (torch.rand(K, generator=G, dtype=torch.float64) + 0.5) if weighted else None  # torch: no grad w.r.t. it
    kw = dict(weight=w, reduction=reduction, label_smoothing=label_smoothing)
    if ignore is not None:
        kw["ignore_index"] = ignore
    assert_same(lambda t: losses.cross_entropy(t, y, **kw), lambda t: F.cross_entropy(t, y, **kw), x)


@pytest.mark.parametrize("reduction,label_smoothing,weighted",
                         list(itertools.product(REDUCTIONS, SMOOTHING, [False, True])))
@pytest.mark.parametrize("shape", [(N, K), (3, K, 4), (K,)])
def test_cross_entropy_probability_targets(shape, reduction, label_smoothing, weighted):
    x = randn(*shape)
    class_dim = 0 if len(shape) == 1 else 1
    p = torch.softmax(randn(*shape).detach(), class_dim).requires_grad_()  # the gradient w.r.t. targets too
    w = (torch.rand(K, generator=G, dtype=torch.float64) + 0.5) if weighted else None
    kw = dict(weight=w, reduction=reduction, label_smoothing=label_smoothing)
    assert_same(lambda a, b: losses.cross_entropy(a, b, **kw), lambda a, b: F.cross_entropy(a, b, **kw), x, p)


@pytest.mark.parametrize("reduction,label_smoothing", list(itertools.product(REDUCTIONS, SMOOTHING)))
def test_cross_entropy_single_example(reduction, label_smoothing):
    x, y = randn(K), torch.tensor(3)
    kw = dict(reduction=reduction, label_smoothing=label_smoothing)
    assert_same(lambda t: losses.cross_entropy(t, y, **kw), lambda t: F.cross_entropy(t, y, **kw), x)


def test_cross_entropy_uint8_targets_and_empty_batch():
    x = randn(N, K)
    y = class_targets((N,)).to(torch.uint8)
    assert_same(lambda t: losses.cross_entropy(t, y), lambda t: F.cross_entropy(t, y), x)
    empty = torch.zeros(0, K, dtype=torch.float64)
    for target in (torch.zeros(0, dtype=torch.long), torch.zeros(0, K, dtype=torch.float64)):
        for reduction in REDUCTIONS:
            torch.testing.assert_close(losses.cross_entropy(empty, target, reduction=reduction),
                                       F.cross_entropy(empty, target, reduction=reduction), equal_nan=True)


def test_cross_entropy_all_ignored_is_nan_like_torch():
    x, y = randn(N, K), torch.full((N,), -100)
    for ls in (0.0, 0.2):
        a, b = losses.cross_entropy(x, y, label_smoothing=ls), F.cross_entropy(x, y, label_smoothing=ls)
        assert torch.isnan(a) and torch.isnan(b)


@pytest.mark.parametrize("legacy", [dict(size_average=False), dict(reduce=False), dict(size_average=True),
                                    dict(size_average=False, reduce=True)])
def test_legacy_reduction_arguments(legacy):
    x, y = randn(N, K), class_targets((N,))
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated") as w1:
        a = losses.cross_entropy(x, y, **legacy)
    with pytest.warns(UserWarning) as w2:
        b = F.cross_entropy(x, y, **legacy)
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert str(w1[0].message) == str(w2[0].message)


def test_cross_entropy_is_the_negative_log_likelihood():
    x, y = randn(N, K), class_targets((N,))
    p = losses.softmax(x, 1)
    nll = -torch.log(torch.prod(p[torch.arange(N), y]))
    torch.testing.assert_close(losses.cross_entropy(x, y, reduction="sum"), nll, rtol=1e-12, atol=1e-12)
    one_hot = losses.one_hot(y, K)
    torch.testing.assert_close(losses.cross_entropy(x, one_hot), losses.cross_entropy(x, y), rtol=1e-12, atol=0)


# ------------------------------------------------------------------------------------------ errors
def messages(fn_ours, fn_theirs):
    with pytest.raises(ValueError) as ours:
        fn_ours()
    with pytest.raises(Exception) as theirs:  # torch raises RuntimeError/IndexError/ValueError
        fn_theirs()
    return str(ours.value), str(theirs.value)


X, Y = torch.randn(4, 3, dtype=torch.float64), torch.tensor([0, 1, 2, 1])
BAD_CALLS = {
    "reduction": (dict(input=X, target=Y, reduction="bad"),),
    "label_smoothing above 1": (dict(input=X, target=Y, label_smoothing=1.5),),
    "label_smoothing above 1, probabilities": (dict(input=X, target=torch.softmax(X, 1), label_smoothing=1.5),),
    "target out of bounds": (dict(input=X, target=torch.tensor([0, 1, 5, 1])),),
    "negative target": (dict(input=X, target=torch.tensor([0, 1, -3, 1])),),
    "batch size": (dict(input=X, target=torch.tensor([0, 1, 2])),),
    "target dtype": (dict(input=X, target=Y.double()),),
    "target dtype int32": (dict(input=X, target=Y.int()),),
    "integer probabilities": (dict(input=X, target=torch.zeros(4, 3, dtype=torch.long)),),
    "ignore_index with probabilities": (dict(input=X, target=torch.softmax(X, 1), ignore_index=1),),
    "weight shape": (dict(input=X, target=Y, weight=torch.ones(2, dtype=torch.float64)),),
    "weight shape, probabilities": (dict(input=X, target=torch.softmax(X, 1), weight=torch.ones(2)),),
    "multi-target": (dict(input=X, target=torch.zeros(4, 2, dtype=torch.long)),),
    "spatial target size": (dict(input=torch.randn(2, 3, 4), target=torch.zeros(2, 5, dtype=torch.long)),),
    "spatial target rank": (dict(input=torch.randn(2, 3, 4), target=torch.zeros(2, dtype=torch.long)),),
    "spatial batch size": (dict(input=torch.randn(2, 3, 4), target=torch.zeros(3, 4, dtype=torch.long)),),
    "0-d input": (dict(input=torch.tensor(1.0), target=torch.tensor(1.0)),),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_cross_entropy_errors_carry_torchs_message(case):
    (kw,) = BAD_CALLS[case]
    ours, theirs = messages(lambda: losses.cross_entropy(**kw), lambda: F.cross_entropy(**kw))
    assert ours == theirs


def test_negative_label_smoothing_is_an_error_here():
    """torch ignores a negative label_smoothing (treats it as 0); we refuse it, in torch's wording."""
    with pytest.raises(ValueError, match=r"label_smoothing must be between 0.0 and 1.0. Got: -0.1"):
        losses.cross_entropy(X, Y, label_smoothing=-0.1)
    assert torch.isfinite(F.cross_entropy(X, Y, label_smoothing=-0.1))


def test_mse_errors_and_warnings_carry_torchs_message():
    ours, theirs = messages(lambda: losses.mse_loss(X, X, reduction="x"), lambda: F.mse_loss(X, X, reduction="x"))
    assert ours == theirs
    w = torch.ones(4, 3, dtype=torch.float64)
    ours, theirs = messages(lambda: losses.mse_loss(X, X, reduction="x", weight=w),
                            lambda: F.mse_loss(X, X, reduction="x", weight=w))
    assert ours == theirs
    ours, theirs = messages(lambda: losses.mse_loss(X, X, weight=w[:2]), lambda: F.mse_loss(X, X, weight=w[:2]))
    assert ours == theirs
    with pytest.warns(UserWarning) as w1:
        losses.mse_loss(X, X[0])
    with pytest.warns(UserWarning) as w2:
        F.mse_loss(X, X[0])
    assert str(w1[0].message) == str(w2[0].message)


def test_elementwise_mean_is_deprecated_like_torch():
    with pytest.warns(UserWarning, match="elementwise_mean"):
        a = losses.cross_entropy(X, Y, reduction="elementwise_mean")
    torch.testing.assert_close(a, F.cross_entropy(X, Y), rtol=1e-12, atol=0)


# ------------------------------------------------------------------------------------------ MSE
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(N,), (N, K), (2, 3, 4)])
def test_mse_matches_torch(shape, reduction, weighted):
    x, t = randn(*shape), randn(*shape)
    w = (torch.rand(shape, generator=G, dtype=torch.float64) + 0.1) if weighted else None
    assert_same(lambda a, b: losses.mse_loss(a, b, reduction=reduction, weight=w),
                lambda a, b: F.mse_loss(a, b, reduction=reduction, weight=w), x, t)


def test_mse_broadcasts_with_torchs_warning():
    x, t = randn(N, K), randn(K)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_same(losses.mse_loss, F.mse_loss, x, t)


# ------------------------------------------------------------------------------------------ around them
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_softmax_mse_is_mse_after_softmax(reduction):
    x, y = randn(N, K), class_targets((N,))
    target = F.one_hot(y, K).double()

    def theirs(t):
        out = F.mse_loss(F.softmax(t, 1), target, reduction=reduction)
        return out.mean(1) if reduction == "none" else out

    assert_same(lambda t: losses.softmax_mse_loss(t, y, reduction=reduction), theirs, x)
    assert_same(lambda t: losses.softmax_mse_loss(t, target, reduction=reduction), theirs, x)
    single = losses.softmax_mse_loss(x[0], y[0], reduction="sum")
    torch.testing.assert_close(single, ((F.softmax(x[0], 0) - target[0]) ** 2).sum())


def test_one_hot_and_accuracy():
    y = class_targets((N,))
    assert torch.equal(losses.one_hot(y, K), F.one_hot(y, K).double())
    with pytest.raises(ValueError, match="out of bounds"):
        losses.one_hot(torch.tensor([K]), K)
    logits = torch.eye(K, dtype=torch.float64)[y]
    logits[0] = torch.roll(logits[0], 1)  # one wrong
    assert losses.accuracy(logits, y).item() == pytest.approx((N - 1) / N)
    assert losses.accuracy(logits, losses.one_hot(y, K)).item() == pytest.approx((N - 1) / N)


def test_stacked_variants_are_each_copys_loss():
    C, B = 3, 6
    out = randn(C, B, K)
    y = torch.randint(0, K, (C, B), generator=G)
    for stacked, single in ((losses.stacked_cross_entropy, losses.cross_entropy),
                            (losses.stacked_softmax_mse_loss, losses.softmax_mse_loss)):
        values = stacked(out, y)
        assert values.shape == (C,)
        for c in range(C):
            torch.testing.assert_close(values[c], single(out[c], y[c]), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(stacked(out, y[0]), torch.stack([single(o, y[0]) for o in out]),
                                   rtol=1e-12, atol=1e-12)
    g = torch.autograd.grad(losses.stacked_cross_entropy(out, y).sum(), out)[0]
    g_ref = torch.autograd.grad(sum(F.cross_entropy(out[c], y[c]) for c in range(C)), out)[0]
    torch.testing.assert_close(g, g_ref, rtol=1e-12, atol=1e-12)
    acc = losses.stacked_accuracy(out, y)
    torch.testing.assert_close(acc, torch.stack([losses.accuracy(out[c], y[c]) for c in range(C)]))
    # regression: (C, B, 1) against (C, B) or shared (B,); (C, B, K) against (C, B, K) or shared (B, K)
    one = randn(C, B, 1)
    t = randn(C, B).detach()
    want = torch.stack([F.mse_loss(one[c, :, 0], t[c]) for c in range(C)])
    torch.testing.assert_close(losses.stacked_mse_loss(one, t), want)
    torch.testing.assert_close(losses.stacked_mse_loss(one, t[0]),
                               torch.stack([F.mse_loss(one[c, :, 0], t[0]) for c in range(C)]))
    tk = randn(B, K).detach()
    torch.testing.assert_close(losses.stacked_mse_loss(out, tk), torch.stack([F.mse_loss(o, tk) for o in out]))
    torch.testing.assert_close(losses.regression_mse_loss(one[0], t[0]), F.mse_loss(one[0, :, 0], t[0]))


def test_loss_table():
    assert set(losses.LOSSES) == {"cross_entropy", "softmax_mse", "mse"}
    assert losses.resolve("cross_entropy").classification and not losses.resolve("mse").classification
    assert losses.resolve(losses.LOSSES["mse"]) is losses.LOSSES["mse"]
    with pytest.raises(ValueError, match="Invalid loss: 'hinge'"):
        losses.resolve("hinge")


def test_stacked_cross_entropy_and_grad_is_autograds():
    C, B = 3, 6
    out = randn(C, B, K)
    y = torch.randint(0, K, (C, B), generator=G)
    values, grad = losses.stacked_cross_entropy_and_grad(out.detach(), y)
    torch.testing.assert_close(values, losses.stacked_cross_entropy(out, y).detach(), rtol=1e-12, atol=1e-12)
    want = torch.autograd.grad(sum(F.cross_entropy(out[c], y[c]) for c in range(C)), out)[0]
    torch.testing.assert_close(grad, want, rtol=1e-12, atol=1e-14)
    shared_values, shared_grad = losses.stacked_cross_entropy_and_grad(out.detach(), y[0])
    torch.testing.assert_close(shared_values, losses.stacked_cross_entropy(out, y[0]).detach())
    assert shared_grad.shape == (C, B, K)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_per_example_gradients_under_vmap_match_torch(label_smoothing):
    """Per-example gradients (vmap of grad) work through lib.losses as through torch, so lessons need no
    torch cross-entropy of their own; an out-of-range target still fails there."""
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 4, 3, dtype=torch.float64, generator=gen)
    target = torch.randint(0, 3, (6, 4), generator=gen)

    def per_copy(loss):
        return vmap(grad(lambda y, t: loss(y, t, label_smoothing=label_smoothing)))

    torch.testing.assert_close(per_copy(losses.cross_entropy)(logits, target),
                               per_copy(F.cross_entropy)(logits, target), rtol=1e-12, atol=1e-14)
    with pytest.raises(RuntimeError, match="out of bounds"):
        per_copy(losses.cross_entropy)(logits, target + 3)
