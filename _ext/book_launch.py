"""The launch buttons of the built pages (Binder, Colab, Thebe "Live Code"), pointed at files that exist.

- **Colab** opens notebooks from GitHub as ``.ipynb`` files only, and the chapters are MyST ``.md``. The theme's
  Colab button names ``chapters/<chapter>.md``; it is pointed at the generated copy ``notebooks/<chapter>.ipynb``
  instead (``tools/sync_notebooks.py``, kept in sync by ``tests/test_notebooks.py``), and left out on a page
  whose notebook does not exist.
- **Binder** keeps the theme's link to ``chapters/<chapter>.md``: ``binder/`` builds the image (CPU-only torch),
  and the repository's ``.jupyter/labconfig`` (the home directory on Binder) opens ``.md`` chapters as notebooks.
- **Live Code** loads thebe from a CDN and then asks mybinder.org for a kernel. ``thebe_offline.js`` says so on
  the page when thebe cannot be loaded (no network) within a few seconds, instead of "Loading thebe from CDN..."
  forever.
"""

from __future__ import annotations

from pathlib import Path

from sphinx.util import logging

LOGGER = logging.getLogger(__name__)
THEBE_OFFLINE_JS = "thebe_offline.js"


def notebook_for(srcdir: str | Path, docname: str) -> Path | None:
    """The Colab copy of a chapter, ``notebooks/<name>.ipynb`` next to the repository's ``chapters/``; the source
    is resolved first, so a scratch build whose chapters are links into the repository finds it too."""
    source = (Path(srcdir) / f"{docname}.md").resolve()
    if source.parent.name != "chapters":
        return None
    notebook = source.parents[1] / "notebooks" / f"{source.stem}.ipynb"
    return notebook if notebook.is_file() else None


def _colab_to_notebooks(app, pagename, templatename, context, doctree):
    for group in context.get("header_buttons", []):
        if group.get("label") != "launch-buttons":
            continue
        kept = []
        for button in group.get("buttons", []):
            if button.get("text") == "Colab":
                notebook = notebook_for(app.srcdir, pagename)
                if notebook is None:
                    LOGGER.info(f"[book_launch] {pagename}: no notebooks/*.ipynb, so no Colab button")
                    continue
                head, _, _ = button["url"].rpartition(f"/{pagename}.")
                button["url"] = f"{head}/notebooks/{notebook.name}"
            kept.append(button)
        group["buttons"] = kept


def setup(app):
    # after sphinx-book-theme's add_launch_buttons (priority 501), before its header buttons are rendered
    app.connect("html-page-context", _colab_to_notebooks, priority=600)
    app.add_js_file(THEBE_OFFLINE_JS, defer="defer")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
