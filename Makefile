# dl-labs: the two commands of the README.
#   make demo   set up .venv, then fit + test mnist_mlp on the embedded data
#   make test   set up .venv when needed, then run the test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=offline

.PHONY: demo test venv bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

demo: venv
	$(OFFLINE) $(PY) cli.py fit --config configs/labs/vision/mnist_mlp.yaml --test_after_fit true

test: venv
	$(VENV)/bin/lint-imports
	$(OFFLINE) $(PY) -m pytest -q -p no:cacheprovider tests

bench: venv
	$(PY) benchmarks/overhead.py
	$(PY) benchmarks/startup.py

clean:
	rm -rf runs lightning_logs
