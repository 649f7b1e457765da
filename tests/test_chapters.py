"""The chapters' code follows the house rules that a reader cannot see in the rendered page.

* Results are selected by label (hyperparameter, seed), never by position: no ``.iloc[`` and no slicing
  arithmetic on stacked copies such as ``h.loss[3 * i:3 * i + 3]``.
* Code cells are short (at most 30 non-blank lines): the experiment lives in ``lib/lessons/<chapter>.py``.
* One figure style (set by :mod:`lib.viz`) and one table helper (:func:`lib.viz.show_table`): no chapter sets
  ``rcParams`` or defines its own ``show_table``.
* No raw notation reaches a reader: a Greek letter with a literal underscore subscript ("λ_max", "η_x", "μ_B")
  in a string that can end up in a figure, a table label, printed output or an explorer control, or in the prose.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.md"))
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


# --- raw notation ---------------------------------------------------------------------------------------------------
# A Greek letter followed by "_" and a subscript: "λ_max", "η_t", "μ_B", "L(θ_t)". Matplotlib text writes these as
# mathtext ($\lambda_{\max}$), tables, printed output and explorer text (HTML) as Unicode (λₘₐₓ) or in words.
RAW_NOTATION = re.compile(r"[\u0370-\u03ff]_[\w{]")
MATHTEXT = re.compile(r"\$[^$]*\$")
PYTHON_SOURCES = sorted(p for p in (ROOT / "lib").rglob("*.py"))
# Strings still carrying raw notation in files that other work owns, being fixed in the same change:
# (file, the string as the scanner reports it). Remove an entry as soon as its file is fixed.
KNOWN_RAW = frozenset()


def _check_prose():
    spec = importlib.util.spec_from_file_location("check_prose", ROOT / "tools" / "check_prose.py")
    module = sys.modules.get("check_prose")
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules["check_prose"] = module
        spec.loader.exec_module(module)
    return module


def shown_strings(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string literal in Python ``source`` that a reader may see: not a docstring (shown only
    as source, written with :math:), not a string argument of ``claim`` (quoted only when the build fails). An f-string
    is one string with ``{}`` for its fields; comments and identifiers are not strings."""
    tree = ast.parse(source)
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skip.add(id(first.value))
        elif isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name == "claim":  # its sentence and its string arguments (a tolerance), not what it selects
                skip.update(id(arg) for arg in [*node.args, *(k.value for k in node.keywords)])
        if isinstance(node, ast.JoinedStr):
            skip.update(id(value) for value in node.values)
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.JoinedStr):
            found.append((node.lineno, "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append((node.lineno, node.value))
    return found


def raw_notation(source: str) -> list[tuple[int, str]]:
    """The shown strings of ``source`` with raw notation outside $…$ mathtext."""
    return [(line, text) for line, text in shown_strings(source) if RAW_NOTATION.search(MATHTEXT.sub("", text))]


def chapter_raw_notation(text: str) -> list[tuple[int, str]]:
    """Raw notation in a chapter: in its code cells' shown strings and in its prose outside math, code and roles."""
    found = []
    for cell in CELL.finditer(text):
        first = text.count("\n", 0, cell.start()) + 2  # the line after the fence
        lines = cell.group(1).split("\n")
        if lines and lines[0].strip() == "---":  # a YAML header block
            end = lines.index("---", 1)
            lines = [""] * (end + 1) + lines[end + 1:]
        lines = ["" if line.startswith((":", "%", "!")) else line for line in lines]
        found += [(first + line - 1, s) for line, s in raw_notation("\n".join(lines))]
    prose = _check_prose()
    for number, line in prose.split(text)[0]:
        shown = prose.INLINE_MATH.sub("", prose.INLINE_CODE.sub("", prose.ROLE.sub("", line)))
        if RAW_NOTATION.search(shown):
            found.append((number, line.strip()))
    return found


def _report(path: Path, found: list[tuple[int, str]]) -> list[str]:
    name = path.relative_to(ROOT).as_posix()
    return [f"{name}:{line}: {text!r}" for line, text in found if (name, text) not in KNOWN_RAW]


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_no_raw_notation_in_a_chapter(path):
    bad = _report(path, chapter_raw_notation(path.read_text(encoding="utf-8")))
    assert not bad, ("raw notation a reader would see; use mathtext in figures ($\\lambda_{\\max}$), Unicode "
                     "subscripts (λₘₐₓ) or words in tables, printed text and explorers:\n" + "\n".join(bad))


@pytest.mark.parametrize("path", PYTHON_SOURCES, ids=[p.relative_to(ROOT / "lib").as_posix() for p in PYTHON_SOURCES])
def test_no_raw_notation_in_lib(path):
    bad = _report(path, raw_notation(path.read_text(encoding="utf-8")))
    assert not bad, ("raw notation a reader would see; use mathtext in figures ($\\lambda_{\\max}$), Unicode "
                     "subscripts (λₘₐₓ) or words in tables, printed text and explorers:\n" + "\n".join(bad))


def test_the_raw_notation_check_can_fail():
    source = ('''def f(ax, eta):
    """Docstring :math:`λ_{max}` and λ_max: shown only as source."""
    # a comment on λ_max
    lam_max = 2.0
    claim("the limit is 2/λ_max", True, tolerance="1 % in λ_max", limit=table["2/λ_min"])
    ax.set(xlabel=r"$\\eta_x$ and $λ_b$", ylabel="λₘₐₓ")
    ax.set_title(f"η_x = {eta}")
    return {"2/λ_max": 2 / lam_max}
''')
    assert sorted(raw_notation(source)) == [(5, "2/λ_min"), (7, "η_x = {}"), (8, "2/λ_max")]
    chapter = ("# A chapter\n\nProse with $\\lambda_{\\max}$, `λ_max` in code and λ_min in the open.\n\n"
               "```{code-cell} ipython3\n:tags: [hide-input]\nprint(f\"μ_B = {1}\")\n```\n")
    assert chapter_raw_notation(chapter) == [(7, "μ_B = {}"), (3, chapter.split("\n")[2])]
