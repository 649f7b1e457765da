"""The lessons: what serves exactly one chapter of the book, one module per chapter, named after the chapter's file.

``lib/lessons/batch_size.py`` holds the experiments of ``chapters/batch_size.md``, and so on. A lesson module may
import the core modules of ``lib`` and :mod:`lib.viz`; nothing in the core or in :mod:`lib.viz` imports a lesson
(checked by the import-linter contracts in ``pyproject.toml``, run by ``make lint``). A helper that a second chapter
needs moves to the core. The module map (chapter → lesson module → core modules) is in ``docs/architecture.md``.
"""
