"""The Colab copies of the chapters (notebooks/*.ipynb) are jupytext's conversions of chapters/*.md, in sync.

`tools/sync_notebooks.py` (`make notebooks`) writes them; these tests fail when a chapter in _toc.yml changed
without its notebook, when one is missing or left over, and check the install cell that comes first.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("sync_notebooks", ROOT / "tools" / "sync_notebooks.py")
sync = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sync)
CHAPTERS = sync.chapters()


def test_every_chapter_in_the_toc_has_an_up_to_date_notebook():
    assert CHAPTERS, "no chapter found in _toc.yml"
    problems = sync.stale()
    assert not problems, "\n".join([*problems, "Run `make notebooks` (tools/sync_notebooks.py)."])


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_notebook_is_the_chapter_after_an_install_cell(chapter):
    import jupytext

    notebook = json.loads((ROOT / "notebooks" / f"{chapter.stem}.ipynb").read_text(encoding="utf-8"))
    first, *rest = notebook["cells"]
    assert first["cell_type"] == "code" and "import lib" in "".join(first["source"])
    assert not any(cell.get("outputs") for cell in notebook["cells"])
    source = jupytext.read(chapter)
    assert ["".join(c["source"]) for c in rest] == [c.source for c in source.cells]
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"


def test_install_cell_never_replaces_the_platforms_torch():
    source = sync.install_cell_source()
    assert "torch" not in source.split("except ImportError:", 1)[1].replace("keeping the torch", "")
    assert "--no-deps" in source
    without_deps, ranges = sync.install_requirements()
    assert "myst-nb==1.4.0" in without_deps
    assert all(not r.lower().startswith("torch") for r in ranges) and any(r.startswith("numpy") for r in ranges)


def test_install_cell_does_nothing_where_lib_imports(monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    exec(compile(sync.install_cell_source(), "install-cell", "exec"), {})
    assert calls == []


def test_install_cell_installs_from_the_configured_repository(monkeypatch):
    import builtins
    import sys

    calls = []
    real_import = builtins.__import__
    tries = {"n": 0}

    def fake_import(name, *args, **kwargs):
        if name == "lib" and tries["n"] == 0:
            tries["n"] += 1
            raise ImportError("No module named 'lib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr(subprocess, "run", lambda command, **k: calls.append(command))
    exec(compile(sync.install_cell_source(), "install-cell", "exec"), {})
    assert len(calls) == 2 and all(c[:4] == [sys.executable, "-m", "pip", "install"] for c in calls)
    assert "git+https://github.com/optimization-book/optimization-book@main" in calls[0]
    assert not any(arg.startswith("torch") for c in calls for arg in c)


def test_sync_check_fails_when_a_chapter_changes_without_its_notebook(tmp_path):
    for name in ("_toc.yml", "_config.yml", "pyproject.toml", "requirements.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    chapter = CHAPTERS[0]
    (tmp_path / "chapters").mkdir()
    (tmp_path / "notebooks").mkdir()
    shutil.copy(chapter, tmp_path / "chapters" / chapter.name)
    assert sync.stale(tmp_path) == [f"notebooks/{chapter.stem}.ipynb: missing"]
    (tmp_path / "notebooks" / f"{chapter.stem}.ipynb").write_text(sync.notebook_text(chapter, tmp_path))
    assert sync.stale(tmp_path) == []
    edited = tmp_path / "chapters" / chapter.name
    edited.write_text(edited.read_text(encoding="utf-8") + "\n```{code-cell} ipython3\nx = 1\n```\n")
    assert f"notebooks/{chapter.stem}.ipynb: differs from its chapter" in sync.stale(tmp_path)
    (tmp_path / "notebooks" / "old.ipynb").write_text("{}")
    assert "notebooks/old.ipynb: no chapter in _toc.yml" in sync.stale(tmp_path)
