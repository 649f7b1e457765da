# The book's two commands: `make book` builds the site, `make test` runs every test.
# Everything they need (virtual environment, pinned packages, vendored front-end assets) is set up on first use.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := book

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HTML := _build/html
VENDOR := _assets/vendor
# Where pytest and the build leave their logs and screenshots.
BOOK_LOG := _build/book.log
PYTEST := $(BIN)/python -m pytest -p no:cacheprovider

.PHONY: book test lint unit browser bench serve clean lab notebooks

$(BIN)/.installed: requirements.txt requirements-test.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-test.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	bash tools/system_deps.sh npm
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# MathJax 4 (with its font, which it would otherwise fetch from a CDN: _config.yml points `loader.paths.fonts` at
# vendor/mathjax/fonts), require.js and the ipywidgets HTML manager, copied from npm packages into the site's static
# files (_assets/vendor).
$(VENDOR)/.copied: node_modules/.installed
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/mathjax/fonts/mathjax-newcm-font $(VENDOR)/html-manager
	cp -r node_modules/mathjax/{tex-chtml.js,input,output,a11y,sre,ui,adaptors,LICENSE} $(VENDOR)/mathjax/
	cp -r node_modules/@mathjax/mathjax-newcm-font/{chtml.js,chtml} $(VENDOR)/mathjax/fonts/mathjax-newcm-font/
	cp node_modules/requirejs/require.js $(VENDOR)/require.js
	find node_modules/@jupyter-widgets/html-manager/dist -maxdepth 1 -type f \
	  ! -name 'embed.js*' ! -name 'libembed-amd.js' ! -name '*.map' -exec cp {} $(VENDOR)/html-manager/ \;
	touch $@

# jupyter-cache re-executes a chapter only when its code cells change, and Sphinx re-reads only changed pages; a
# change to `lib` (code, viewer, styles) can change every chapter's output, so it empties the cache and Sphinx's
# saved environment, and every chapter is executed again (tests/test_book_build.py checks their times).
LIB_FILES := $(shell find lib -type f \( -name '*.py' -o -name '*.js' -o -name '*.css' \))
_build/.lib-stamp: $(LIB_FILES)
	rm -rf _build/.jupyter_cache _build/.doctrees
	mkdir -p _build && touch $@

book: $(BIN)/.installed $(VENDOR)/.copied _build/.lib-stamp
	mkdir -p _build
	LIB_BOOK_BUILD=1 LIB_PROGRESS=0 $(BIN)/jupyter-book build . --builder html -W --keep-going 2>&1 | tee $(BOOK_LOG)
	@echo "The book is built: open $(CURDIR)/$(HTML)/index.html (or run 'make serve')."

# ruff, then the layering contracts of lib (import-linter, [tool.importlinter] in pyproject.toml:
# core <- viz <- lessons, no cycles; see docs/architecture.md).
lint: $(BIN)/.installed
	$(BIN)/ruff check lib tests benchmarks tools _ext
	$(BIN)/lint-imports --no-cache

# Two pytest workers with one BLAS/torch thread each: the machine has two cores, and oversubscribed threads
# make linear algebra several times slower.
unit: $(BIN)/.installed
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PYTEST) -n 2 tests -m "not browser and not book"

browser: $(BIN)/.installed
	bash tools/system_deps.sh browser
	$(PYTEST) tests -m "browser or book"

test: lint unit book browser

bench: $(BIN)/.installed
	for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script; done

# The chapters as notebooks in JupyterLab, from .venv, on localhost only. Double-clicking a chapter's .md opens it
# as a notebook (jupytext): the default viewer is set in this repository's .jupyter/labconfig, not in your home
# (on Binder the repository is the home directory, so the same file applies there).
LAB_PORT ?= 8888
lab: $(BIN)/.installed
	@echo "Starting JupyterLab on http://127.0.0.1:$(LAB_PORT)/lab/tree/chapters (the URL with its token follows)."
	JUPYTER_CONFIG_PATH="$(CURDIR)/.jupyter$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" $(BIN)/jupyter lab \
	  --ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) --ServerApp.root_dir="$(CURDIR)" \
	  --ServerApp.default_url=/lab/tree/chapters $(if $(filter 0,$(shell id -u)),--allow-root)

# The Colab copies: notebooks/<chapter>.ipynb generated from chapters/*.md (tests/test_notebooks.py checks them).
notebooks: $(BIN)/.installed
	$(BIN)/python tools/sync_notebooks.py

serve:
	@test -f $(HTML)/index.html || { echo "Run 'make book' first."; exit 1; }
	$(BIN)/python -m http.server --directory $(HTML) --bind 127.0.0.1 8000

clean:
	rm -rf _build $(VENDOR) node_modules .pytest_cache .hypothesis
