# Fresh machine:  make run   (executes the notebook series offline into build/notebooks)
#                 make test  (unit tests + every notebook under nbval, smoke setting)
#                 make site  (static HTML of the executed notebooks: build/site/index.html)
#                 make demo  (the interactive page on http://127.0.0.1:8000/)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast bench info clean sync-notebooks site demo

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[notebooks,test,site]"
	touch $(STAMP)

run: $(STAMP)
	ACGAN_DATA=bundled $(PY) notebooks/run_all.py --out build/notebooks

test: $(STAMP)
	ACGAN_SMOKE=1 ACGAN_DATA=bundled $(PY) -m pytest tests notebooks --nbval-lax

test-fast: $(STAMP)
	$(PY) -m pytest tests -m "not browser"

site: $(STAMP)
	$(PY) docs/build_site.py --out build/site

demo: $(STAMP)
	$(PY) -m acgan_lib demo

bench: $(STAMP)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) benchmarks/train_step.py

info: $(STAMP)
	$(PY) -m acgan_lib info

sync-notebooks: $(STAMP)
	$(VENV)/bin/jupytext --sync notebooks/*.ipynb

clean:
	rm -rf build .pytest_cache
