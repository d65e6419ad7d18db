# dl-labs: the two commands of the README.
#   make demo   set up .venv, then fit + test mnist_mlp on the embedded data
#   make test   set up .venv when needed, then the import contracts, ruff, the docs build and the whole test suite (CI)
#   make test-fast   the inner loop: the import contracts and the tests not marked slow
#   make docs   build the docs site into build/site (MkDocs, --strict: a broken link or missing page fails)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=offline

.PHONY: demo test test-fast lint docs venv bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

demo: venv
	$(OFFLINE) $(PY) cli.py fit --config configs/labs/vision/mnist_mlp.yaml --test_after_fit true

test: venv lint docs
	$(OFFLINE) $(PY) -m pytest -q -p no:cacheprovider -n 2 tests

test-fast: venv
	$(VENV)/bin/lint-imports
	$(OFFLINE) $(PY) -m pytest -q -p no:cacheprovider -n 2 -m "not slow" tests

lint: venv
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

docs: venv
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

bench: venv
	$(PY) benchmarks/overhead.py
	$(PY) benchmarks/startup.py

clean:
	rm -rf runs lightning_logs
