"""Statements the book makes about its own measurements, checked when the book is built.

A chapter that writes "momentum needs about three times fewer steps" measures the steps in a hidden cell, glues
them into the sentence, and states the sentence once more in a one-line check beside it::

    claim("momentum needs at least twice fewer steps than gradient descent",
          steps_gd >= 2 * steps_momentum, tolerance="factor 2", steps_gd=steps_gd, steps_momentum=steps_momentum)

When a change of a setting, a seed or a library version makes the numbers stop supporting the sentence, the cell
raises :class:`ClaimError`, the build fails (``allow_errors: false``), and the log shows::

    ClaimError: the text says "momentum needs at least twice fewer steps than gradient descent"
    (tolerance: factor 2), but the numbers do not support it: steps_gd = 69, steps_momentum = 41

The comparison helpers (:func:`within_factor`, :func:`close`, :func:`overlap`) name the usual tolerances, so the
condition reads like the sentence. Numbers enter the prose through :func:`glue_number` (one format, in the
``{glue:text}`` role) and machine-dependent wording through :func:`glue_phrase`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = ["ClaimError", "claim", "close", "glue_number", "glue_phrase", "overlap", "within_factor"]


class ClaimError(AssertionError):
    """A sentence of the book that its own measurements no longer support."""


def _shown(value: Any) -> str:
    array = np.asarray(value)
    if array.ndim == 0:
        number = array.item()
        if isinstance(number, float):
            return f"{number:.6g}"
        return str(number)
    return np.array2string(array, precision=6, separator=", ", threshold=20)


def claim(sentence: str, holds: Any, *, tolerance: str | None = None, **numbers: Any) -> None:
    """Check that `holds` is true for the statement `sentence`; otherwise raise :class:`ClaimError`.

    Args:
        sentence: the statement as the text makes it (quoted in the error, so that it can be found in the chapter).
        holds: the condition computed from the measured numbers (a bool or a 0-d array).
        tolerance: the tolerance built into `holds`, in words ("10 %", "factor 2", "95 % interval"), quoted too.
        numbers: the measured numbers the condition compares, printed by name in the error.
    """
    if not sentence or not isinstance(sentence, str):
        raise ValueError(f"Invalid sentence: {sentence!r} (expected the statement the text makes)")
    verdict = np.asarray(holds)
    if verdict.ndim != 0 or verdict.dtype != bool:
        raise ValueError(f"Invalid holds: {holds!r} (expected one boolean; combine arrays with all() or any())")
    if bool(verdict):
        return
    given = f" (tolerance: {tolerance})" if tolerance else ""
    shown = ", ".join(f"{name} = {_shown(value)}" for name, value in numbers.items()) or "none given"
    raise ClaimError(f'the text says "{sentence}"{given}, but the numbers do not support it: {shown}')


def within_factor(values: Iterable[float], factor: float) -> bool:
    """True if all `values` are positive, finite, and the largest is at most `factor` times the smallest."""
    if not factor >= 1:
        raise ValueError(f"Invalid factor: {factor} (expected a number >= 1)")
    array = np.asarray(list(values), dtype=float)
    if array.size == 0 or not np.all(np.isfinite(array)) or not np.all(array > 0):
        return False
    return bool(array.max() <= factor * array.min())


def close(a: float, b: float, *, rtol: float) -> bool:
    """True if ``|a - b| <= rtol * max(|a|, |b|)`` (a relative tolerance symmetric in `a` and `b`)."""
    if not rtol >= 0:
        raise ValueError(f"Invalid rtol: {rtol} (expected a number >= 0)")
    if not (math.isfinite(a) and math.isfinite(b)):
        return False
    return abs(a - b) <= rtol * max(abs(a), abs(b))


def overlap(first: Sequence[float], second: Sequence[float]) -> bool:
    """True if the ranges [min, max] of the two samples (for example, over seeds) share a point."""
    a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if a.size == 0 or b.size == 0:
        raise ValueError("Invalid samples: both need at least one value")
    return bool(a.min() <= b.max() and b.min() <= a.max())


def glue_number(name: str, value: Any) -> float:
    """Glue a measured number under `name` (the text formats it: ``{glue:text}`name:.3f```) and return it.

    The value is stored as a Python float, so that the format in the role, not numpy's repr, decides how it reads.
    """
    number = float(value)
    if math.isnan(number):
        raise ValueError(f"Invalid value for {name}: nan (a number glued into the text must be measured)")
    _glue(name, number)
    return number


def glue_phrase(name: str, text: str) -> str:
    """Glue a piece of wording chosen from a measurement (``{glue:text}`name```) and return it.

    For sentences whose direction depends on the machine ("was faster" / "was slower"), so that the book stays
    true wherever it is built.
    """
    if not isinstance(text, str) or not text:
        raise ValueError(f"Invalid text for {name}: {text!r}")
    _glue(name, text)
    return text


def _glue(name: str, value: Any) -> None:
    # myst_nb is needed only when a chapter glues, not by the numerical code of lib: imported here on purpose.
    from myst_nb import glue

    glue(name, value, display=False)
