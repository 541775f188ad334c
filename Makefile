# The book's commands. Each target sets up .venv by itself the first time (Python 3.11).
#   make html   build the book: lib, check, notebooks, eval, then the website in _build/html
#   make pdf    the same stages, then one PDF per framework in _build/pdf
#   make test   run the tests
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
D2LBUILD := $(BIN)/d2lbuild

.PHONY: html pdf test lib lib-check check notebooks eval pkg clean distclean venv

# The website. `d2lbuild html` fetches MathJax (pinned, with npm) into ~/.cache/d2lbuild the
# first time, so the site renders math offline. Options: make html HTML_ARGS="--strict"
html: lib check notebooks eval
	$(D2LBUILD) html $(HTML_ARGS)

# One PDF per framework in _build/pdf (d2l.pdf, d2l-pytorch.pdf), also copied into
# _build/html when the website exists. Needs TeX from Debian (see .ci/run).
# Options: make pdf PDF_ARGS="--tab pytorch --verbose"
pdf: lib check notebooks eval
	$(D2LBUILD) pdf $(PDF_ARGS)

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

# Without a GPU a full run of the book takes hours (chapter 7 trains large CNNs), so on such
# machines eval runs in quick mode unless told otherwise (pages then carry a banner):
#   make html EVAL_ARGS=          a full run anyway
#   make eval EVAL_ARGS="--tab pytorch --jobs 4 --quick --shard 1/2"
HAVE_GPU := $(shell nvidia-smi -L 2>/dev/null | grep -c GPU)
EVAL_ARGS ?= $(if $(filter-out 0,$(HAVE_GPU)),,--quick)
eval: $(STAMP)
	@$(if $(and $(filter file,$(origin EVAL_ARGS)),$(EVAL_ARGS)),echo "eval: no GPU found so quick mode (make html EVAL_ARGS= runs everything in full)",true)
	$(D2LBUILD) eval $(EVAL_ARGS)

# Notebook zips per framework (plain and Colab) and the d2l wheel and sdist, in _build/pkg.
pkg: $(STAMP)
	$(D2LBUILD) pkg

# Live preview on http://127.0.0.1:8000/: when a chapter, figure or config.ini is saved it
# runs eval (cached: only changed code runs) and html again and reloads the browser. Ctrl-C
# stops it. Options: make serve SERVE_ARGS="--port 8001 --quick --tab pytorch"
.PHONY: serve
serve: $(STAMP)
	$(D2LBUILD) serve $(SERVE_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf _build

distclean: clean
	rm -rf $(VENV)
