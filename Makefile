# Fresh machine:  make lab   (installs, then opens your own student copies in JupyterLab: my_notebooks/)
#                 make lab-instructor   (JupyterLab on notebooks/, the instructor notebooks with solutions)
#                 make run   (executes the notebook series offline into build/notebooks)
#                 make test  (unit tests + every notebook under nbval, smoke setting)
#                 make site  (static HTML of the executed notebooks: build/site/index.html)
#                 make demo  (the interactive page on http://127.0.0.1:8000/)
# Every target installs .venv from requirements.lock (exact versions) + the project (--no-deps).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock
EXTRAS := notebooks,test,site,browser
# make bench: its own venv (the lock + torch), so torch never enters .venv or the lock.
BENCH_VENV ?= build/venv-bench
UV     ?= uv
# The Python the lock is resolved for (soupsieve, in the site extra, needs >= 3.11.5).
LOCK_PYTHON ?= 3.11.5
# make test-latest: a separate venv with the newest versions pyproject.toml allows.
LATEST_VENV ?= build/venv-latest
# make lab: your own student copies (git ignores the folder; an existing notebook is never overwritten).
LEARNER_DIR ?= my_notebooks
# More options for JupyterLab: make lab LAB_ARGS="--port 8899 --no-browser". As root (containers,
# classroom VMs) JupyterLab refuses to start without --allow-root, so it is added there.
LAB_ARGS ?=
LAB_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)
# Keeps the committed kernel details when a notebook is saved (git stays clean): see that file.
LAB_CONFIG := --config=notebooks/jupyter_lab_config.py

.PHONY: lab lab-instructor run test test-fast test-latest student site demo bench info lock clean sync-notebooks

# One line per step; pip lists each package of the lock as it goes (about 2 minutes the first time).
$(STAMP): pyproject.toml $(LOCK)
	@echo "[install 1/4] creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	@echo "[install 2/4] upgrading pip"
	$(PY) -m pip install --quiet --upgrade pip
	@echo "[install 3/4] installing the exact versions of $(LOCK) (about 2 minutes, less from pip's cache)"
	$(PY) -m pip install -r $(LOCK)
	@echo "[install 4/4] installing acgan_lib from this folder (editable)"
	@# the informational "Editable installation" box of setuptools is noise here: the log shows only on failure
	$(PY) -m pip install --quiet --no-deps -e . > $(VENV)/install-acgan_lib.log 2>&1 || { cat $(VENV)/install-acgan_lib.log; exit 1; }
	touch $(STAMP)
	@echo "installed: $(VENV) is ready"

lab: $(STAMP)
	$(PY) notebooks/make_student.py --learner $(LEARNER_DIR)
	$(VENV)/bin/jupyter lab $(LAB_CONFIG) $(LAB_ROOT) $(LAB_ARGS) $(LEARNER_DIR)

lab-instructor: $(STAMP)
	$(VENV)/bin/jupyter lab $(LAB_CONFIG) $(LAB_ROOT) $(LAB_ARGS) notebooks/

run: $(STAMP)
	ACGAN_DATA=bundled PYTHONUNBUFFERED=1 $(PY) notebooks/run_all.py --out build/notebooks

# --durations=20: the twenty slowest tests, printed at the end (where the minutes go).
# -n: one pytest worker per core (pytest-xdist); --dist loadscope keeps each notebook's cells, and each
# test file's module fixtures, on one worker; --no-loadscope-reorder hands the files out in the order
# tests/conftest.py puts them (longest first). TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= auto
XDIST := -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder
test: $(STAMP)
	ACGAN_SMOKE=1 ACGAN_DATA=bundled $(PY) -m pytest tests notebooks --nbval-lax $(XDIST) --durations=20

# Everything but the tests that train networks, build venvs or drive a browser (a few minutes).
test-fast: $(STAMP)
	$(PY) -m pytest tests -m "not slow and not slow_install and not browser" $(XDIST) --durations=20

# make test-latest PYTHON=python3.13
test-latest:
	rm -rf $(LATEST_VENV)
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LATEST_VENV)/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e ".[$(EXTRAS)]"
	$(LATEST_VENV)/bin/python -c "import sys, jax, flax, optax, numpy; print('python', sys.version.split()[0], \
	  '| jax', jax.__version__, '| flax', flax.__version__, '| optax', optax.__version__, '| numpy', numpy.__version__)"
	MPLBACKEND=Agg $(LATEST_VENV)/bin/python -m pytest tests -m "not slow_install and not browser" $(XDIST) --durations=20

student: $(STAMP)
	$(PY) notebooks/make_student.py --out build/student

# Instructor copies: every cell executed, solution cells shown with their outputs (as long as `make run`).
.PHONY: instructor
instructor: $(STAMP)
	ACGAN_DATA=bundled $(PY) notebooks/make_instructor.py --out build/instructor

site: $(STAMP)
	$(PY) docs/build_site.py --out build/site

demo: $(STAMP)
	$(PY) -m acgan_lib demo

bench: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python benchmarks/train_step.py

$(BENCH_VENV)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -r $(LOCK)
	$(BENCH_VENV)/bin/python -m pip install --quiet -c $(LOCK) -e ".[bench]"
	touch $@

info: $(STAMP)
	$(PY) -m acgan_lib info

# After changing pyproject.toml's dependencies: resolve pyproject.toml (Python 3.11, every extra
# but bench) with hashes, keeping every existing pin where the bounds allow (the old lock is the
# constraint file), so only what is new or out of bounds moves. Needs uv (`pip install uv`).
lock:
	mkdir -p build
	cp $(LOCK) build/lock-constraints.txt
	$(UV) pip compile pyproject.toml $(foreach e,$(subst $(comma), ,$(EXTRAS)),--extra $(e)) \
	  --python-version $(LOCK_PYTHON) --generate-hashes --constraint build/lock-constraints.txt \
	  --custom-compile-command "make lock" --output-file $(LOCK)

comma := ,

sync-notebooks: $(STAMP)
	$(VENV)/bin/jupytext --sync notebooks/*.ipynb

clean:
	rm -rf build .pytest_cache
