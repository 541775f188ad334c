# The book's commands. Each target sets up .venv by itself the first time (Python 3.11).
#   make html   build the book (the stages that exist: lib, check, notebooks, eval)
#   make test   run the tests
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
D2LBUILD := $(BIN)/d2lbuild

.PHONY: html test lib lib-check check notebooks eval clean distclean venv

html: lib check notebooks eval

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

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf _build

distclean: clean
	rm -rf $(VENV)
