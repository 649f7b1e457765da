"""The book build fails loudly when a chapter does not execute."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAILING_CHAPTER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
# A chapter that breaks

```{code-cell} ipython3
numbers = [1, 2, 3]
numbers[7]
```
"""


@pytest.mark.book
def test_a_failing_cell_fails_the_build_and_shows_the_error(tmp_path):
    for name in ("_config.yml", "references.bib"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "_ext", tmp_path / "_ext")
    (tmp_path / "_assets").mkdir()
    (tmp_path / "_assets" / "book.css").write_text("")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: broken\n")
    (tmp_path / "intro.md").write_text("# Intro\n")
    (tmp_path / "broken.md").write_text(FAILING_CHAPTER)
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run(
        [str(jupyter_book), "build", str(tmp_path), "-W", "--keep-going"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = result.stdout + result.stderr
    assert result.returncode != 0, log
    assert "broken" in log and "IndexError" in log and "numbers[7]" in log, log
