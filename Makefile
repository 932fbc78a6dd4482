# Everyday commands. PYTHON defaults to the project's virtualenv (the one `pulumi up` also uses).
PYTHON ?= venv/bin/python
STACK ?= dev
export PULUMI_BACKEND_URL ?= file://$(CURDIR)/.state
export PULUMI_CONFIG_PASSPHRASE ?= dev-only-passphrase

.PHONY: venv test lint plan capacity up-dev destroy-dev python-check

venv:
	python3 -m venv venv
	venv/bin/pip install -r requirements-dev.txt

# Before `make venv` the commands below would fail with "No such file or directory"; say what to run instead.
python-check:
	@command -v "$(PYTHON)" >/dev/null 2>&1 || { \
	  echo "error: $(PYTHON) not found: run \`make venv\` first (or pass PYTHON=/path/to/python3.11)" >&2; exit 2; }

# pytest-xdist workers: each starts a policy pack once; each stack config is evaluated once for both of them
# (offline/harness.py EvaluationCache), and they share the tests.
# TEST_WORKERS=0 runs everything in one process (what `pytest -k ...` on a few tests should do too).
TEST_WORKERS ?= 2

test: python-check
	$(PYTHON) -m pytest -n $(TEST_WORKERS) --dist worksteal

lint: python-check
	$(PYTHON) -m ruff check .
	$(PYTHON) -m scripts.typecheck

# make plan STACK=prod [SHOW=Deployment/browser] [BASE=origin/main [DIFF_OUT=out/plan-diff/prod.md]]
# (STACK may also be a test-only stack of tests/stacks/: existing, fleet)
plan: python-check
	$(PYTHON) -m offline.plan $(STACK) $(if $(SHOW),--show '$(SHOW)') $(if $(BASE),--base '$(BASE)') \
	  $(if $(DIFF_OUT),--diff-out '$(DIFF_OUT)')

capacity: python-check
	$(PYTHON) -m scripts.capacity_report $(STACK)

up-dev:
	./scripts/up-dev.sh

destroy-dev:
	./scripts/destroy-dev.sh
