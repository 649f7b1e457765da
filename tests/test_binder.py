"""Binder's configuration (binder/, read by repo2docker) against the book's requirements.txt.

Binder itself cannot be reached from the test machines: these tests check what can be checked here, the files'
syntax and that binder/requirements.txt is requirements.txt with only torch swapped for the CPU-only build.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def test_binder_pins_equal_the_books_except_torch_which_is_the_cpu_build():
    book = requirement_lines(ROOT / "requirements.txt")
    binder = requirement_lines(BINDER / "requirements.txt")
    options = [line for line in binder if line.startswith("-") and line != "-e ."]
    assert options == [f"--extra-index-url {CPU_INDEX}"], options
    packages = [line for line in binder if line not in options]
    assert "torch==2.13.0" in book
    assert packages == ["torch==2.13.0+cpu" if line == "torch==2.13.0" else line for line in book], (
        "binder/requirements.txt must list requirements.txt's lines in the same order, with torch==2.13.0+cpu")


def test_every_binder_package_line_is_an_exact_pin():
    for line in requirement_lines(BINDER / "requirements.txt"):
        if not line.startswith("-"):
            assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[A-Za-z0-9_.+]+", line), line


def test_runtime_names_the_books_python():
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"


def test_start_script_is_valid_bash_that_hands_over_to_the_server():
    start = BINDER / "start"
    assert start.stat().st_mode & 0o111, "binder/start must be executable"
    subprocess.run(["bash", "-n", str(start)], check=True)
    text = start.read_text()
    assert text.startswith("#!/bin/bash") and text.rstrip().endswith('exec "$@"')
    assert ".jupyter" in text


def test_start_script_adds_the_repositorys_lab_config(tmp_path):
    out = subprocess.run(["bash", str(BINDER / "start"), "bash", "-c", 'echo "$JUPYTER_CONFIG_PATH"'],
                         env={"REPO_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == f"{tmp_path}/.jupyter"


def test_the_repository_opens_md_chapters_as_notebooks_in_jupyterlab():
    import json

    overrides = json.loads((ROOT / ".jupyter" / "labconfig" / "default_setting_overrides.json").read_text())
    viewers = overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers["markdown"] == "Jupytext Notebook"
