# Fresh machine:  make lab   (installs, then opens the notebook series in JupyterLab)
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

.PHONY: lab run test test-fast test-latest student site demo bench info lock clean sync-notebooks

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

run: $(STAMP)
	ACGAN_DATA=bundled $(PY) notebooks/run_all.py --out build/notebooks

# --durations=20: the twenty slowest tests, printed at the end (where the minutes go).
test: $(STAMP)
	ACGAN_SMOKE=1 ACGAN_DATA=bundled $(PY) -m pytest tests notebooks --nbval-lax --durations=20

# Everything but the tests that train networks, build venvs or drive a browser (a few minutes).
test-fast: $(STAMP)
	$(PY) -m pytest tests -m "not slow and not slow_install and not browser" --durations=20

# make test-latest PYTHON=python3.13
test-latest:
	rm -rf $(LATEST_VENV)
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LATEST_VENV)/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e ".[$(EXTRAS)]"
	$(LATEST_VENV)/bin/python -c "import sys, jax, flax, optax, numpy; print('python', sys.version.split()[0], \
	  '| jax', jax.__version__, '| flax', flax.__version__, '| optax', optax.__version__, '| numpy', numpy.__version__)"
	MPLBACKEND=Agg $(LATEST_VENV)/bin/python -m pytest tests -m "not slow_install and not browser" --durations=20

student: $(STAMP)
	$(PY) notebooks/make_student.py --out build/student

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
