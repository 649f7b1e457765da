"""Shared test configuration: tests under tests/browser/ need the built site and Chromium."""

from pathlib import Path

import pytest

BROWSER_DIR = Path(__file__).parent / "browser"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if BROWSER_DIR in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)
