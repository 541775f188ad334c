# The book's commands. Each target sets up .venv by itself the first time (Python 3.11).
#   make html   build the book: lib, check, notebooks, eval, then the website in _build/html
#   make test   run the tests
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
D2LBUILD := $(BIN)/d2lbuild

.PHONY: html test lib lib-check check notebooks eval pkg clean distclean venv

# The website. `d2lbuild html` fetches MathJax (pinned, with npm) into ~/.cache/d2lbuild the
# first time, so the site renders math offline. Options: make html HTML_ARGS="--strict"
html: lib check notebooks eval
	$(D2LBUILD) html $(HTML_ARGS)

venv: $(STAMP)

$(STAMP): requirements.txt build_tools/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e build_tools
	@touch $@

lib: $(STAMP)
	$(D2LBUILD) lib

lib-check: $(STAMP)
	$(D2LBUILD) lib --check

check: $(STAMP)
	$(D2LBUILD) check

notebooks: $(STAMP)
	$(D2LBUILD) notebooks

# Options: make eval EVAL_ARGS="--tab pytorch --jobs 4 --quick --shard 1/2"
eval: $(STAMP)
	$(D2LBUILD) eval $(EVAL_ARGS)

# Notebook zips per framework (plain and Colab) and the d2l wheel and sdist, in _build/pkg.
pkg: $(STAMP)
	$(D2LBUILD) pkg

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf _build

distclean: clean
	rm -rf $(VENV)
