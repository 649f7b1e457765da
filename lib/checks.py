"""Argument checks with one contract for every public entry point of `lib`.

Every check raises :class:`ValueError` in torch's message style, ``Invalid <name>: <value>``, followed by what is
allowed when that is not obvious from the name::

    >>> check_positive("learning rate", -0.1)
    Traceback (most recent call last):
    ValueError: Invalid learning rate: -0.1 (expected a number > 0)

The message starts exactly as torch's (``torch.optim.SGD(..., lr=-0.1)`` says ``Invalid learning rate: -0.1``), so
a reader who knows one knows the other; :mod:`lib.optim` keeps torch's exact wording where torch has one and
uses these checks for the arguments torch does not have.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection, Iterable, Mapping
from typing import Any

__all__ = [
    "check_choice",
    "check_finite",
    "check_hparams",
    "check_in_range",
    "check_int",
    "check_nonnegative",
    "check_positive",
    "invalid",
]


def invalid(name: str, value: Any, allowed: str | None = None) -> ValueError:
    """The error for argument `name` with `value`: ``Invalid <name>: <value>`` plus ``(<allowed>)`` if given.

    Returned rather than raised, so that a caller writes ``raise invalid(...)`` and the traceback points at it.
    """
    shown = repr(value) if isinstance(value, str) else value
    message = f"Invalid {name}: {shown}"
    return ValueError(f"{message} ({allowed})" if allowed else message)


def _real(name: str, value: Any, allowed: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise invalid(name, value, allowed)
    if math.isnan(float(value)):
        raise invalid(name, value, allowed)
    return float(value)


def check_finite(name: str, value: Any) -> float:
    """`value` as a float, or ``Invalid <name>`` unless it is a finite real number."""
    allowed = "expected a finite number"
    number = _real(name, value, allowed)
    if not math.isfinite(number):
        raise invalid(name, value, allowed)
    return number


def check_positive(name: str, value: Any, *, allow_inf: bool = False) -> float:
    """`value` as a float, or ``Invalid <name>`` unless it is a real number > 0 (finite unless `allow_inf`)."""
    allowed = "expected a number > 0"
    number = _real(name, value, allowed)
    if not number > 0 or (math.isinf(number) and not allow_inf):
        raise invalid(name, value, allowed)
    return number


def check_nonnegative(name: str, value: Any) -> float:
    """`value` as a float, or ``Invalid <name>`` unless it is a finite real number >= 0."""
    allowed = "expected a number >= 0"
    number = _real(name, value, allowed)
    if not (number >= 0 and math.isfinite(number)):
        raise invalid(name, value, allowed)
    return number


def check_in_range(
    name: str, value: Any, low: float, high: float, *, low_open: bool = False, high_open: bool = False
) -> float:
    """`value` as a float, or ``Invalid <name>`` unless it lies in the interval [low, high] (open ends on request).

    >>> check_in_range("beta", 0.9, 0.0, 1.0, high_open=True)
    0.9
    """
    interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    allowed = f"expected a number in {interval}"
    number = _real(name, value, allowed)
    above = number > low if low_open else number >= low
    below = number < high if high_open else number <= high
    if not (above and below):
        raise invalid(name, value, allowed)
    return number


def check_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    """`value` as an int, or ``Invalid <name>`` unless it is an integer (not a bool) >= `minimum`."""
    allowed = "expected an integer" + (f" >= {minimum}" if minimum is not None else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise invalid(name, value, allowed)
    if minimum is not None and value < minimum:
        raise invalid(name, value, allowed)
    return int(value)


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """`value`, or ``Invalid <name>`` listing the `choices` unless it is one of them.

    >>> check_choice("reduction", "sum", ["none", "mean", "sum"])
    'sum'
    """
    options = list(choices)
    try:
        known = value in options
    except TypeError:
        known = False
    if not known:
        raise invalid(name, value, "expected one of " + ", ".join(repr(option) for option in options))
    return value


def check_hparams(given: Mapping[str, Any] | Collection[str], valid: Iterable[str], *, what: str = "hyperparameter"):
    """Raise ``Invalid <what>`` naming the first name in `given` that is not in `valid`, listing the valid ones.

    An unknown hyperparameter is a :class:`ValueError` everywhere in `lib` (never a ``TypeError`` from a keyword
    argument deep inside a rule), so a typo such as ``beta_1`` for ``beta1`` is reported where it was written.

    >>> check_hparams({"eta": 0.1, "beta_1": 0.9}, ["eta", "beta1", "beta2", "eps"])
    Traceback (most recent call last):
    ValueError: Invalid hyperparameter: 'beta_1' (expected one of 'beta1', 'beta2', 'eps', 'eta')
    """
    names = sorted(valid)
    for name in given:
        if name not in names:
            raise invalid(what, name, "expected one of " + ", ".join(repr(option) for option in names))
