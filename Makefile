# Everyday commands. PYTHON defaults to the project's virtualenv (the one `pulumi up` also uses).
PYTHON ?= venv/bin/python
STACK ?= dev
export PULUMI_BACKEND_URL ?= file://$(CURDIR)/.state
export PULUMI_CONFIG_PASSPHRASE ?= dev-only-passphrase

.PHONY: venv test lint plan capacity up-dev destroy-dev

venv:
	python3 -m venv venv
	venv/bin/pip install -r requirements-dev.txt

test:
	$(PYTHON) -m pytest

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m basedpyright --pythonpath $(PYTHON)

plan:
	$(PYTHON) -m offline.plan $(STACK)

capacity:
	$(PYTHON) -m capacity.report $(STACK)

up-dev:
	./scripts/up-dev.sh

destroy-dev:
	pulumi destroy --stack dev --yes
