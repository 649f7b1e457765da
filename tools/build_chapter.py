"""Build one chapter on its own, as the book would, in a scratch directory.

    .venv/bin/python tools/build_chapter.py chapters/momentum.md [--out /tmp/book-momentum]

Several people can work on different chapters at once without sharing `_build/`. The scratch book has the
landing page, the glossary, the references and the chapter (plus any pages named with --with); it is built
with the book's own `_config.yml` and `-W --keep-going`, with the same environment as `make book`.
Browser tests can then run against it: `BOOK_HTML=<out>/_build/html .venv/bin/python -m pytest tests/browser`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ["_config.yml", "references.bib", "intro.md", "glossary.md", "bibliography.md", "_ext", "_assets", "lib"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapter", type=Path, help="path of the chapter, e.g. chapters/momentum.md")
    parser.add_argument("--with", dest="extra", type=Path, action="append", default=[], help="more pages")
    parser.add_argument("--out", type=Path, help="scratch directory (default /tmp/book-<chapter name>)")
    args = parser.parse_args()

    pages = [args.chapter, *args.extra]
    out = args.out or Path("/tmp") / f"book-{args.chapter.stem}"
    out.mkdir(parents=True, exist_ok=True)
    for name in SHARED:
        target = out / name
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
        target.symlink_to(ROOT / name)
    (out / "chapters").mkdir(exist_ok=True)
    for page in pages:
        link = out / page
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to((ROOT / page).resolve())
    entries = "\n".join(f"      - file: {page.with_suffix('').as_posix()}" for page in pages)
    (out / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nparts:\n  - caption: Lessons\n    chapters:\n"
        f"{entries}\n  - caption: Reference\n    chapters:\n      - file: glossary\n      - file: bibliography\n"
    )
    env = dict(os.environ, LIB_BOOK_BUILD="1", LIB_PROGRESS="0")
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    command = [str(jupyter_book), "build", str(out), "--builder", "html", "-W", "--keep-going"]
    (out / "_build").mkdir(exist_ok=True)
    with open(out / "_build" / "book.log", "w") as log:
        # From inside the scratch book: the execution cache path in _config.yml is relative to the working directory.
        process = subprocess.Popen(
            command, cwd=out, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for line in process.stdout:
            sys.stdout.write(line)
            log.write(line)
        result = process.wait()
    print(f"\nBuilt into {out / '_build' / 'html'} (exit status {result}).")
    return result


if __name__ == "__main__":
    sys.exit(main())
