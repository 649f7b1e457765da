"""Small fixes to the built pages that the book's browser tests depend on.

- Jupyter Book registers some extensions' inline scripts twice (sphinx-thebe's
  ``const THEBE_JS_URL = ...`` among them); the second copy is a JavaScript
  ``SyntaxError`` in the console of every page. Each page keeps one copy of each script.
- A hidden cell's "Show code cell source" toggle is named by what it shows, not by the generic
  ``aria-label="Toggle hidden content"`` (axe-core: an accessible name must contain the visible text).
- The theme's colour-mode button (drawn by the page templates, so rewritten in the written files once the build
  has finished) is named "Color mode", but its icons carry the titles "Light", "Dark", "System Settings", which
  fontawesome turns into SVG ``<title>``s: the icons are hidden from assistive technology and lose their titles.
  The search field shows "Search Ctrl+K" but is named "Search": it is named by its text.
- The references page's list (docutils writes ``role="list"`` around entries with the deprecated DPUB role
  ``doc-biblioentry``, which is not a list item: axe-core's ``aria-required-children``) has list items.
- The references page labels its entries as the chapters cite them, "Kingma and Ba, 2015", not "[12]": the
  pybtex style ``author_year_list`` (``bibtex_default_style`` in ``_config.yml``) is the plain style with
  author-year labels, the same as sphinxcontrib-bibtex's ``author_year`` citations.
"""

from __future__ import annotations

import re
from pathlib import Path

from pybtex.plugin import register_plugin
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle


def _surname(person) -> str:
    return re.sub(r"[{}]", "", " ".join(person.prelast_names + person.last_names))


class AuthorYearLabels(BaseLabelStyle):
    """"Cauchy, 1847", "Kingma and Ba, 2015", "Wang et al., 2024" (then "…, 2024b"): as the chapters cite."""

    def format_labels(self, sorted_entries):
        seen: dict[str, int] = {}
        for entry in sorted_entries:
            label = self._label(entry)
            seen[label] = seen.get(label, 0) + 1
            yield label if seen[label] == 1 else f"{label}{chr(ord('a') + seen[label] - 1)}"

    @staticmethod
    def _label(entry) -> str:
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [_surname(p) for p in people]
        if len(names) >= 3:
            who = f"{names[0]} et al."
        elif names:
            who = " and ".join(names)
        else:
            who = re.sub(r"[{}]", "", entry.fields.get("title", entry.key))
        return f"{who}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearListStyle(PlainStyle):
    default_label_style = "author_year_labels"


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


def _name_toggles_by_their_text(app, pagename, templatename, context, doctree):
    if "body" in context:
        context["body"] = context["body"].replace('<summary aria-label="Toggle hidden content">', "<summary>")


def _bibliography_list_items(app, pagename, templatename, context, doctree):
    if "body" in context:
        context["body"] = context["body"].replace('role="doc-biblioentry"', 'role="listitem"')


_THEME_ICON = re.compile(r'<i class="(theme-switch [^"]*)" data-mode="([a-z]+)"\s+title="[^"]*"></i>')
_SEARCH_FIELD = re.compile(r'(<button class="btn search-button-field [^>]*?) aria-label="Search"')


def fix_page_chrome(html: str) -> str:
    """The theme's buttons named by what they show (axe-core's label-content-name-mismatch): the colour-mode
    button's icons lose their titles and are hidden (the button is named "Color mode"); the search field, which
    shows "Search Ctrl+K", is named by that text instead of ``aria-label="Search"``."""
    html = _THEME_ICON.sub(r'<i class="\1" data-mode="\2" aria-hidden="true"></i>', html)
    return _SEARCH_FIELD.sub(r"\1", html)


def _fix_page_chrome_in_pages(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for path in Path(app.outdir).rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        fixed = fix_page_chrome(text)
        if fixed != text:
            path.write_text(fixed, encoding="utf-8")


register_plugin("pybtex.style.labels", "author_year_labels", AuthorYearLabels)
register_plugin("pybtex.style.formatting", "author_year_list", AuthorYearListStyle)


def setup(app):
    app.connect("html-page-context", _drop_repeated_assets, priority=900)
    app.connect("html-page-context", _name_toggles_by_their_text)
    app.connect("html-page-context", _bibliography_list_items)
    app.connect("build-finished", _fix_page_chrome_in_pages)
    app.add_js_file("book.js", loading_method="defer")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
