"""lib.checks: one message style for every bad argument."""

import math

import pytest
import torch

from lib import checks


def test_messages_start_as_torch_does():
    with pytest.raises(ValueError) as ours:
        checks.check_positive("learning rate", -0.1)
    with pytest.raises(ValueError) as theirs:
        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=-0.1)
    assert str(ours.value).startswith(str(theirs.value))
    assert str(ours.value) == "Invalid learning rate: -0.1 (expected a number > 0)"


@pytest.mark.parametrize("value", [0, -1, math.nan, math.inf, "0.1", None, True])
def test_check_positive_rejects(value):
    with pytest.raises(ValueError, match=r"^Invalid eta: "):
        checks.check_positive("eta", value)


def test_check_positive_accepts_and_returns_float():
    assert checks.check_positive("eta", 3) == 3.0
    assert isinstance(checks.check_positive("eta", 3), float)
    assert checks.check_positive("max_norm", math.inf, allow_inf=True) == math.inf


@pytest.mark.parametrize("value", [-1e-9, math.nan, math.inf])
def test_check_nonnegative_rejects(value):
    with pytest.raises(ValueError, match=r"expected a number >= 0"):
        checks.check_nonnegative("weight_decay", value)


def test_check_nonnegative_accepts_zero():
    assert checks.check_nonnegative("weight_decay", 0) == 0.0


def test_check_in_range_open_and_closed_ends():
    assert checks.check_in_range("beta", 0.0, 0.0, 1.0, high_open=True) == 0.0
    with pytest.raises(ValueError, match=r"Invalid beta: 1.0 \(expected a number in \[0.0, 1.0\)\)"):
        checks.check_in_range("beta", 1.0, 0.0, 1.0, high_open=True)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        checks.check_in_range("p", 0, 0, 1, low_open=True)
    assert checks.check_in_range("p", 1, 0, 1, low_open=True) == 1.0


def test_check_int():
    assert checks.check_int("steps", 5, minimum=1) == 5
    for bad in (0, 2.0, True, "3"):
        with pytest.raises(ValueError, match=r"^Invalid steps: .*expected an integer >= 1"):
            checks.check_int("steps", bad, minimum=1)


def test_check_finite():
    assert checks.check_finite("x", -2) == -2.0
    with pytest.raises(ValueError, match="expected a finite number"):
        checks.check_finite("x", -math.inf)


def test_check_choice_lists_the_choices():
    assert checks.check_choice("reduction", "sum", ["none", "mean", "sum"]) == "sum"
    with pytest.raises(ValueError) as error:
        checks.check_choice("reduction", "avg", ["none", "mean", "sum"])
    assert str(error.value) == "Invalid reduction: 'avg' (expected one of 'none', 'mean', 'sum')"
    with pytest.raises(ValueError, match="Invalid reduction"):
        checks.check_choice("reduction", ["unhashable"], {"none", "mean"})


def test_check_hparams_names_the_unknown_one_and_lists_valid():
    checks.check_hparams({"eta": 0.1, "beta1": 0.9}, ["eta", "beta1", "beta2"])
    with pytest.raises(ValueError) as error:
        checks.check_hparams({"eta": 0.1, "beta_1": 0.9}, ["eta", "beta1", "beta2"])
    assert str(error.value) == "Invalid hyperparameter: 'beta_1' (expected one of 'beta1', 'beta2', 'eta')"
    with pytest.raises(ValueError, match=r"^Invalid rule: 'adamm'"):
        checks.check_hparams(["adamm"], ["adam", "sgd"], what="rule")


def test_invalid_is_returned_not_raised():
    error = checks.invalid("momentum", -1, None)
    assert isinstance(error, ValueError) and str(error) == "Invalid momentum: -1"
