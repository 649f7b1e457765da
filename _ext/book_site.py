"""Small fixes to the built pages that the book's browser tests depend on.

- Jupyter Book registers some extensions' inline scripts twice (sphinx-thebe's
  ``const THEBE_JS_URL = ...`` among them); the second copy is a JavaScript
  ``SyntaxError`` in the console of every page. Each page keeps one copy of each script.
"""

from __future__ import annotations


def _without_repeats(assets):
    seen = set()
    unique = []
    for asset in assets:
        # An inline script is registered once with filename None and once with "": the same script.
        key = (getattr(asset, "filename", asset) or "", tuple(sorted(getattr(asset, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(asset)
    return unique


def _drop_repeated_assets(app, pagename, templatename, context, doctree):
    for name in ("script_files", "css_files"):
        if name in context:
            context[name] = _without_repeats(context[name])


def setup(app):
    app.connect("html-page-context", _drop_repeated_assets, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
