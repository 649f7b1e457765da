"""The one table display helper of the book: a pandas DataFrame with its columns formatted, compact."""

from __future__ import annotations

from collections.abc import Mapping

import IPython.display
import pandas as pd

__all__ = ["show_table"]

_STYLES = [{"selector": "th, td", "props": "padding: 2px 10px; white-space: nowrap; font-size: 0.85em;"}]


def show_table(table: pd.DataFrame, formats: Mapping[str, str] | None = None) -> None:
    """Display ``table`` with the given columns formatted (format strings such as ``"{:.3f}"``): small font, no
    wrapping inside cells, one line per row. Columns not in ``formats`` are shown as pandas shows them; row numbers
    (a ``RangeIndex``) are not shown, and float labels of the index are shown as ``{:g}``."""
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"Invalid table: {type(table).__name__} (expected a pandas DataFrame)")
    unknown = sorted(set(formats or {}) - set(table.columns))
    if unknown:
        raise ValueError(f"Invalid formats: {unknown} are not columns of the table ({list(table.columns)})")
    styler = table.style.format(dict(formats or {})).set_table_styles(_STYLES)
    if isinstance(table.index, pd.RangeIndex):  # row numbers 0, 1, 2 … say nothing to a reader
        styler = styler.hide(axis="index")
    else:  # labels such as β₂ = 0.9 as "0.9", not pandas's "0.900000"
        styler = styler.format_index(lambda v: f"{v:g}" if isinstance(v, float) else v)
    IPython.display.display(styler)
