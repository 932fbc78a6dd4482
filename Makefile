# Everyday commands. PYTHON defaults to the project's virtualenv (the one `pulumi up` also uses).
PYTHON ?= venv/bin/python
STACK ?= dev
export PULUMI_BACKEND_URL ?= file://$(CURDIR)/.state
export PULUMI_CONFIG_PASSPHRASE ?= dev-only-passphrase

.PHONY: venv test lint plan capacity up-dev destroy-dev

venv:
	python3 -m venv venv
	venv/bin/pip install -r requirements-dev.txt

# pytest-xdist workers: each evaluates the stacks and starts a policy pack once, then they share the tests.
# TEST_WORKERS=0 runs everything in one process (what `pytest -k ...` on a few tests should do too).
TEST_WORKERS ?= 2

test:
	$(PYTHON) -m pytest -n $(TEST_WORKERS) --dist worksteal

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m mypy

plan:
	$(PYTHON) -m offline.plan $(STACK)

capacity:
	$(PYTHON) -m capacity.report $(STACK)

up-dev:
	./scripts/up-dev.sh

destroy-dev:
	pulumi destroy --stack dev --yes
