"""The chapters' code follows the house rules that a reader cannot see in the rendered page.

* Results are selected by label (hyperparameter, seed), never by position: no ``.iloc[`` and no slicing
  arithmetic on stacked copies such as ``h.loss[3 * i:3 * i + 3]``.
* Code cells are short (at most 30 non-blank lines): the experiment lives in ``lib/lessons/<chapter>.py``.
* One figure style (set by :mod:`lib.viz`) and one table helper (:func:`lib.viz.show_table`): no chapter sets
  ``rcParams`` or defines its own ``show_table``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CHAPTERS = sorted((Path(__file__).resolve().parents[1] / "chapters").glob("*.md"))
MAX_CELL_LINES = 30
CELL = re.compile(r"```\{code-cell\}[^\n]*\n(.*?)```", re.S)
# h.loss[3 * i:3 * i + 3], x[k*n:(k+1)*n]: a slice whose bounds multiply an index by a copy count
ARITHMETIC_SLICE = re.compile(r"\[\s*\(?\w+\s*[*+]\s*\w+\)?\s*(?:\*\s*\w+\s*)?:\s*\(?\w+\s*[*+]\s*\w+")


def code_cells(text: str) -> list[list[str]]:
    cells = []
    for body in CELL.findall(text):
        lines = body.split("\n")
        if lines and lines[0].strip() == "---":  # a YAML header block
            end = lines.index("---", 1) if "---" in lines[1:] else 0
            lines = lines[end + 1:]
        cells.append([line for line in lines if line.strip() and not line.startswith(":")])
    return cells


def violations(text: str) -> tuple[int, int, int]:
    code = "\n".join("\n".join(cell) for cell in code_cells(text))
    return (code.count(".iloc["), len(ARITHMETIC_SLICE.findall(code)),
            sum(len(cell) > MAX_CELL_LINES for cell in code_cells(text)))


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_results_are_selected_by_label_and_cells_are_short(path):
    found = violations(path.read_text(encoding="utf-8"))
    names = (".iloc[ uses", "slicing-arithmetic uses", f"code cells longer than {MAX_CELL_LINES} lines")
    for name, n in zip(names, found, strict=True):
        assert n == 0, f"{path.name}: {n} {name}; select by label, move code to lib/lessons"


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_one_figure_style_and_one_table_helper(path):
    code = "\n".join("\n".join(cell) for cell in code_cells(path.read_text(encoding="utf-8")))
    assert "rcParams" not in code, f"{path.name} sets rcParams: lib.viz owns the figure style"
    assert "def show_table" not in code, f"{path.name} defines show_table: use lib.viz.show_table"


def test_the_checks_can_fail():
    bad = "```{code-cell} ipython3\nx = h.train_loss[3 * i:3 * i + 3]\ny = t.iloc[0, 3]\n" + "z = 1\n" * 31 + "```\n"
    assert violations(bad) == (1, 1, 1)
    assert violations("```{code-cell} ipython3\nx = h.select(eta=0.1, seed=3)\n```\n") == (0, 0, 0)
