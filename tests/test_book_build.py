"""The book build fails loudly when a chapter does not execute, and every chapter executes within its budget."""

import shutil
import subprocess
import sys
from datetime import UTC
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.md"))
CACHE = ROOT / "_build" / ".jupyter_cache"
# Seconds one chapter may take to execute in `make book` on the 2-core builder (issue 23): what a reader waits for
# in `make lab`, and what keeps the whole build within CI's time.
BUDGET_S = 90.0
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


def execution_seconds(cache_dir: Path = CACHE) -> dict[str, float]:
    """Each chapter's execution time in seconds, as jupyter-cache recorded it in the last build that ran it."""
    from jupyter_cache import get_cache

    times = {}
    for record in get_cache(str(cache_dir)).list_cache_records():
        path = Path(record.uri)
        if path.parent == ROOT / "chapters":
            if record.created.replace(tzinfo=UTC).timestamp() < path.stat().st_mtime:  # stored in UTC
                raise AssertionError(f"{path.name} changed after its last execution: run `make book` first")
            times[path.stem] = float(record.data["execution_seconds"])
    return times


@pytest.mark.book
def test_every_chapter_executes_within_its_budget():
    times = execution_seconds()
    missing = sorted({p.stem for p in CHAPTERS} - set(times))
    assert not missing, f"no execution record for {missing} in {CACHE}: run `make book`"
    report = ", ".join(f"{name} {t:.1f} s" for name, t in sorted(times.items(), key=lambda kv: -kv[1]))
    over = {name: round(t, 1) for name, t in times.items() if t > BUDGET_S}
    assert not over, f"over the {BUDGET_S:.0f}-s budget: {over} (all: {report})"
