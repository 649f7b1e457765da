"""lib.claims: a sentence of the book fails the build when its numbers stop supporting it."""

import numpy as np
import pytest

from lib import claims


def test_a_supported_claim_passes_silently():
    assert claims.claim("momentum is faster", 41 < 69, steps_momentum=41, steps_gd=69) is None


def test_a_failed_claim_quotes_the_sentence_the_tolerance_and_the_numbers():
    with pytest.raises(claims.ClaimError) as error:
        claims.claim("within a factor of two", claims.within_factor([163, 59.1, 56], 2), tolerance="factor 2",
                     steps=np.array([163, 59.1, 56]), worst=163.0)
    message = str(error.value)
    assert message.startswith('the text says "within a factor of two" (tolerance: factor 2)')
    assert "steps = [163. ,  59.1,  56. ]" in message and "worst = 163" in message
    assert isinstance(error.value, AssertionError)


def test_numpy_booleans_are_accepted_and_arrays_rejected():
    claims.claim("x", np.float64(1.0) < 2)
    with pytest.raises(ValueError, match="Invalid holds"):
        claims.claim("x", np.array([True, False]))
    with pytest.raises(ValueError, match="Invalid holds"):
        claims.claim("x", 1)
    with pytest.raises(ValueError, match="Invalid sentence"):
        claims.claim("", True)


def test_within_factor():
    assert claims.within_factor([1.0, 1.9, 1.5], 2)
    assert not claims.within_factor([56, 163], 2)
    assert not claims.within_factor([1.0, np.nan], 2)
    assert not claims.within_factor([0.0, 1.0], 2)
    with pytest.raises(ValueError, match="Invalid factor"):
        claims.within_factor([1.0], 0.5)


def test_close_is_symmetric_relative():
    assert claims.close(100.0, 109.0, rtol=0.1)
    assert claims.close(109.0, 100.0, rtol=0.1)
    assert not claims.close(6.5e-10, 1.6e-6, rtol=0.5)
    assert not claims.close(np.inf, np.inf, rtol=0.5)


def test_overlap_of_seed_ranges():
    assert claims.overlap([10.2, 10.3], [10.25, 10.4])
    assert not claims.overlap([10.20, 10.30], [10.31, 10.40])
    with pytest.raises(ValueError):
        claims.overlap([], [1.0])


def test_glue_number_and_phrase_store_plain_values(monkeypatch):
    stored = {}
    monkeypatch.setattr(claims, "_glue", stored.__setitem__)
    assert claims.glue_number("steps", np.int64(44)) == 44.0
    assert type(stored["steps"]) is float
    assert claims.glue_phrase("direction", "faster") == "faster"
    assert stored["direction"] == "faster"
    with pytest.raises(ValueError, match="Invalid value for loss: nan"):
        claims.glue_number("loss", float("nan"))
    with pytest.raises(ValueError, match="Invalid text"):
        claims.glue_phrase("direction", "")
