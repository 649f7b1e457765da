"""The one table display helper of the book: a pandas DataFrame with its columns formatted, compact."""

from __future__ import annotations

from collections.abc import Mapping

import IPython.display
import pandas as pd

__all__ = ["show_table"]

_STYLES = [{"selector": "th, td", "props": "padding: 2px 10px; white-space: nowrap; font-size: 0.85em;"}]


def show_table(table: pd.DataFrame, formats: Mapping[str, str] | None = None) -> None:
    """Display ``table`` with the given columns formatted (format strings such as ``"{:.3f}"``): small font, no
    wrapping inside cells, one line per row. Columns not in ``formats`` are shown as pandas shows them."""
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"Invalid table: {type(table).__name__} (expected a pandas DataFrame)")
    unknown = sorted(set(formats or {}) - set(table.columns))
    if unknown:
        raise ValueError(f"Invalid formats: {unknown} are not columns of the table ({list(table.columns)})")
    IPython.display.display(table.style.format(dict(formats or {})).set_table_styles(_STYLES))
