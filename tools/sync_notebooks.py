"""Write the Colab copies of the chapters: ``notebooks/<chapter>.ipynb``, generated from ``chapters/<chapter>.md``.

    .venv/bin/python tools/sync_notebooks.py            # (re)write every notebook   (make notebooks)
    .venv/bin/python tools/sync_notebooks.py --check    # exit 1 naming each notebook that is out of date

The chapters' ``.md`` files are the source of truth; a notebook here is jupytext's conversion of one, without
outputs, plus one first cell that installs the book's package when ``import lib`` fails (as on Colab). That cell
installs ``lib`` from the repository named in ``_config.yml`` (``repository.url`` and ``repository.branch``, the
setting that drives every launch button) and ``myst-nb`` (the chapters' ``glue``, which needs only IPython) with
``--no-deps``, then ``lib``'s other requirements as the ranges ``pyproject.toml`` declares them, so pip keeps
whatever already satisfies them: Colab's own torch (and its ipykernel) is never replaced (the book pins
``torch==2.13.0``, which would pull several GB). Every chapter that ``_toc.yml`` lists
and that is a notebook (a ``.md`` with a jupytext ``kernelspec``) gets one; ``tests/test_notebooks.py`` fails when
one is missing, stale or left over.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

import jupytext
import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
# Needed by the chapters but not by `lib` itself: `from myst_nb import glue` (the book's measured numbers). `glue`
# needs only IPython, so it is installed without its dependencies (Sphinx, a newer ipykernel, ...).
CHAPTER_REQUIREMENTS = ("myst-nb",)
# Requirements the install cell leaves to the platform: Colab brings its own torch.
PLATFORM_PROVIDED = ("torch",)


def chapters(root: Path = ROOT) -> list[Path]:
    """The ``.md`` notebooks that ``_toc.yml`` lists, in its order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    files: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("file"), str):
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(toc)
    found = []
    for name in files:
        path = root / f"{name}.md"
        if path.is_file() and _is_notebook(path):
            found.append(path)
    return found


def _is_notebook(path: Path) -> bool:
    text = path.read_text(encoding="utf-8")
    header = re.match(r"---\n(.*?)\n---\n", text, re.S)
    return bool(header) and "kernelspec" in (yaml.safe_load(header.group(1)) or {})


def _requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def install_requirements(root: Path = ROOT) -> tuple[list[str], list[str]]:
    """What the install cell asks pip for besides ``lib`` itself: the chapters' own requirements (pinned as in
    ``requirements.txt``, installed without dependencies) and ``lib``'s dependencies as ``pyproject.toml``
    declares them (ranges), except the ones the platform provides."""
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = {}
    for line in (root / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            pins[_requirement_name(line)] = line
    without_deps = [pins.get(name, name) for name in CHAPTER_REQUIREMENTS]
    ranges = [r for r in project["dependencies"] if _requirement_name(r) not in PLATFORM_PROVIDED]
    return without_deps, ranges


def install_cell_source(root: Path = ROOT) -> str:
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    url = config["repository"]["url"].rstrip("/")
    branch = config["repository"].get("branch", "main")
    without_deps, ranges = install_requirements(root)
    without_deps = "".join(f', "{r}"' for r in without_deps)
    ranges = ", ".join(f'"{r}"' for r in ranges)
    return f"""\
# Generated from the chapter's .md by tools/sync_notebooks.py: edit the chapter, not this notebook.
# On Colab (or any Jupyter without the book's package) this installs `lib` from the book's repository and what
# the chapter needs, keeping the torch already installed; where `import lib` works it does nothing.
try:
    import lib  # noqa: F401
except ImportError:
    import importlib
    import subprocess
    import sys

    pip = [sys.executable, "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--no-deps", "git+{url}@{branch}"{without_deps}], check=True)
    subprocess.run([*pip, {ranges}], check=True)
    importlib.invalidate_caches()
    import lib  # noqa: F401"""


def notebook_text(chapter: Path, root: Path = ROOT) -> str:
    """The ``.ipynb`` text for one chapter: deterministic (cell ids from the cell's position), no outputs."""
    notebook = jupytext.read(chapter)
    notebook.metadata.pop("jupytext", None)
    notebook.metadata["colab"] = {"provenance": []}
    cell = nbformat.v4.new_code_cell(install_cell_source(root))
    cell.metadata["tags"] = ["install"]
    notebook.cells.insert(0, cell)
    for i, c in enumerate(notebook.cells):
        c["id"] = f"{chapter.stem}-{i}"
    nbformat.validate(notebook)
    return nbformat.writes(notebook, version=4) + "\n"


def expected(root: Path = ROOT) -> dict[Path, str]:
    """Notebook path (relative to ``root``) -> its text, for every chapter."""
    return {Path("notebooks") / f"{md.stem}.ipynb": notebook_text(md, root) for md in chapters(root)}


def stale(root: Path = ROOT) -> list[str]:
    """What is out of date: each missing or stale notebook, and each notebook of no chapter."""
    want = expected(root)
    problems = []
    for relative, text in want.items():
        path = root / relative
        if not path.is_file():
            problems.append(f"{relative}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{relative}: differs from its chapter")
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        if path.relative_to(root) not in want:
            problems.append(f"{path.relative_to(root)}: no chapter in _toc.yml")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report what is out of date")
    args = parser.parse_args()
    if args.check:
        problems = stale()
        for problem in problems:
            print(problem)
        if problems:
            print("Run `make notebooks` (tools/sync_notebooks.py) to regenerate them.")
        return 1 if problems else 0
    want = expected()
    NOTEBOOKS.mkdir(exist_ok=True)
    for relative, text in want.items():
        path = ROOT / relative
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {relative}")
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        if path.relative_to(ROOT) not in want:
            path.unlink()
            print(f"removed {path.relative_to(ROOT)} (no chapter in _toc.yml)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
