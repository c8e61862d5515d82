# forklab - the two commands a student or instructor needs:
#   make lab    set everything up (first time) and open the course in JupyterLab
#   make test   set everything up (first time) and run every test
# Everything lives in .venv; delete it to start over.

PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
# pip's own lines are the progress of a first install (minutes: JupyterLab is large). Every step
# below runs only when what it installs changed, so a later `make lab` installs and says nothing.
PIP     = $(PY) -m pip --disable-pip-version-check
PORT   ?= 8888
NOTEBOOKS = $(sort $(wildcard notebooks/[0-9]*.ipynb))
SOLUTIONS = $(sort $(wildcard solutions/[0-9]*.ipynb))

.PHONY: lab test test-lib test-notebooks test-course test-browser notebooks references exercises bench bench-class test-hub screenshots site check-tools clean

# Running as root (a container, say) needs --allow-root; nobody else gets it.
ALLOW_ROOT = $(if $(filter 0,$(shell id -u)),--allow-root,)

# root_dir=.: a notebook given alone would make its folder the server's root, and the Exercises links
# (../exercises/) and the exercises themselves would be out of reach.
# jupyter/student: a student's server whatever else went into .venv (no nbgrader tools, a quiet log; its README).
LAB_SETTINGS = $(VENV)/share/jupyter/lab/settings/overrides.d/forklab.json
LAB = JUPYTER_CONFIG_PATH=$(CURDIR)/jupyter/student$(if $(JUPYTER_CONFIG_PATH),:$(JUPYTER_CONFIG_PATH)) \
      $(VENV)/bin/jupyter lab --port=$(PORT) $(ALLOW_ROOT) --ServerApp.root_dir=.
lab: $(VENV)/.installed-lab $(LAB_SETTINGS)
	$(LAB) notebooks/00_start_here.ipynb

# No "official Jupyter news?" question in the corner of every screen (the Dockerfile, binder/ and deploy/ too).
$(LAB_SETTINGS): jupyter/lab-settings/overrides.d/forklab.json | $(VENV)/bin/python
	@install -D -m 644 $< $@

test: $(VENV)/.installed-dev
	$(PY) -m pytest -q -p no:cacheprovider lib/tests tests
	$(PY) -m pytest -q -p no:cacheprovider --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg notebooks

# The pieces of `make test`, for a quicker loop while working on one part.
test-lib: $(VENV)/.installed-dev
	$(PY) -m pytest -q -p no:cacheprovider lib/tests
test-notebooks: $(VENV)/.installed-dev
	$(PY) -m pytest -q -p no:cacheprovider --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg notebooks

# Re-execute the course and the solutions and store their outputs (what nbval then compares against,
# and what a reader sees before running anything): as an unprivileged student when run as root.
notebooks: $(VENV)/.installed-dev
	$(PY) tools/execute_notebooks.py $(NOTEBOOKS) $(SOLUTIONS)
	$(PY) tools/make_exercises.py

# Record what the cells that a container or an old kernel may forbid show where everything is allowed
# (as root and as a student; lib/src/forklab/course/references.json). Run as root after changing such a cell.
references: $(VENV)/.installed-dev
	$(PY) tools/record_references.py

exercises: $(VENV)/.installed-dev
	$(PY) tools/make_exercises.py

bench: $(VENV)/.installed-dev
	$(PY) -m forklab.meters.benchmark
	$(PY) -m forklab.meters.cost_report
	$(PY) tools/bench_clicks.py    # in Chromium; says "skipped" without it or Playwright; takes the heavy lock

# The sandbox's soak (figures, not a test): 2,000 random experiments from 4 threads under random SIGINTs,
# bench and server kills and stops; wrong verdicts and leaks counted (tools/soak.py). Heavy: one at a time.
.PHONY: soak
soak: $(VENV)/.installed-dev
	flock /tmp/forklab-heavy.lock $(PY) tools/soak.py

# The output-order model's proof (issue 22): 13 programs, 500 untraced runs each under random delays, half
# pinned to one CPU; every observed order must be one the model allows (figures, not a test). Heavy: one at a time.
.PHONY: orders-soundness
orders-soundness: $(VENV)/.installed-dev
	flock /tmp/forklab-heavy.lock $(PY) tools/orders_soundness.py

# A class on one machine: 20 student kernels at once (figures, not a test; see docs/instructors.md).
bench-class: $(VENV)/.installed-dev
	$(PY) tools/bench_class.py

# The class on a real JupyterHub (slow, as root: Unix users, npm, a course environment cached in /tmp).
test-hub: $(VENV)/.installed-dev
	FORKLAB_SLOW=1 $(PY) -m pytest -q -p no:cacheprovider tests/test_hub.py

screenshots: $(VENV)/.installed-dev
	flock /tmp/forklab-heavy.lock $(PY) tools/screenshot_explorer.py

# The course as a static website, for reading without running it: build/site/html/index.html, made from the
# committed outputs (no kernel runs). Then every link is checked: the site's, and the repository's own.
site: $(VENV)/.installed-dev
	$(PY) site/build.py
	$(PY) tools/check_links.py --site build/site/html --repo

# Not Linux (macOS, Windows without WSL2): the experiments need a Linux kernel; a container has one.
define NOT_LINUX
forklab's experiments run on a Linux kernel, and this is $(shell uname -s). Use the course in a container:
  Binder       open the "launch binder" link in README.md - nothing to install
  Docker       docker build -t forklab . && docker run --rm -p 8888:8888 forklab
               (Docker Desktop runs a Linux VM; open the http://127.0.0.1:8888/lab?token=... it prints)
  Codespaces   on GitHub: Code > Codespaces > Create codespace (it uses .devcontainer/)
  Windows      WSL2 is Linux: run make lab inside it
endef
export NOT_LINUX

check-tools:
	@[ "$$(uname -s)" = Linux ] || { echo "$$NOT_LINUX"; exit 1; }
	@command -v $(PYTHON) >/dev/null || { echo "forklab needs Python 3.10 or newer as '$(PYTHON)' (set PYTHON=...)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { echo "forklab needs Python >= 3.10; '$(PYTHON)' is $$($(PYTHON) --version)"; exit 1; }
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { echo "'$(PYTHON)' lacks the venv module (Debian/Ubuntu: apt-get install python3-venv)"; exit 1; }
	@command -v cc >/dev/null || command -v gcc >/dev/null || { echo "forklab needs a C compiler (Debian/Ubuntu: apt-get install gcc python3-dev)"; exit 1; }

$(VENV)/bin/python: | check-tools
	@echo "forklab [1/3]: creating the virtual environment $(VENV) with $(PYTHON)"
	@$(PYTHON) -m venv $(VENV)
	@$(PIP) install -q --upgrade pip setuptools wheel

$(VENV)/.installed-lab: $(VENV)/bin/python requirements.txt lib/pyproject.toml lib/setup.py $(wildcard lib/src/forklab/engine/csrc/*)
	@echo "forklab [2/3]: installing JupyterLab and the course's packages (requirements.txt)"
	@$(PIP) install -r requirements.txt
	@echo "forklab [3/3]: compiling forklab's C core and installing the library (lib/)"
	@$(PIP) install -e lib
	@touch $@
	@echo "forklab: installed in $(VENV)"

$(VENV)/.installed-dev: $(VENV)/.installed-lab requirements-dev.txt
	@echo "forklab: installing what the tests need on top (requirements-dev.txt)"
	@$(PIP) install -r requirements-dev.txt
	@touch $@

clean:
	rm -rf $(VENV) lib/build lib/src/*.egg-info lib/src/forklab/engine/_core*.so build/site
