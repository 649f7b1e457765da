"""Shared test configuration: one torch/BLAS thread for every test, a small float64 digits subset for the training
tests (``digits64``); tests under tests/browser/ need the built site and Chromium."""

from pathlib import Path

import pytest
import torch
from threadpoolctl import threadpool_limits

from lib import data

BROWSER_DIR = Path(__file__).parent / "browser"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if BROWSER_DIR in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """The book's models are tiny and the cores are shared (two pytest workers on two cores): with more threads
    than free cores, torch and OpenBLAS spin instead of working, and runs get many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits64():
    """200 training and 80 test images of the digits in float64: enough for a tiny MLP to learn, fast to train."""
    d = data.digits(dtype=torch.float64)
    return data.Dataset(d.X_train[:200], d.y_train[:200], d.X_test[:80], d.y_test[:80])
