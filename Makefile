# audioconv: `make run` serves the embedded default; `make test` installs what the
# tests need and runs the whole suite. Every package is pinned with its hashes in
# requirements.txt / requirements-dev.txt, compiled by `make lock` from the top-level
# pins in requirements.in / requirements-dev.in (README, "Dependencies").

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8080
export PORT

.PHONY: run test lint lock check-infra system-deps mutation clean deploy

PIP := $(BIN)/pip install --quiet --disable-pip-version-check

# Runtime only: what `make run` needs (ffmpeg comes from a pinned pip wheel), every
# package as locked, each checked against its hashes.
$(BIN)/.runtime: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) --require-hashes -r requirements.txt
	$(PIP) --no-deps -e .
	touch $@

# Everything the tests need on top (the runtime's packages at the same versions).
$(BIN)/.dev: $(BIN)/.runtime requirements-dev.txt
	$(PIP) --require-hashes -r requirements-dev.txt
	touch $@

# Compile the top-level pins (*.in) into the hashed locks (*.txt): every platform and
# Python >= 3.11 (App Engine standard runs 3.12), versions already locked kept unless
# an .in pin moved. Bump one package that is not in an .in file: make lock UPGRADE=name.
UPGRADE ?=
LOCK := $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock" $(foreach name,$(UPGRADE),--upgrade-package $(name))
lock: $(BIN)/.dev
	$(LOCK) requirements.in -o requirements.txt
	$(LOCK) --constraint requirements.txt requirements-dev.in -o requirements-dev.txt

run: $(BIN)/.runtime
	$(BIN)/audioconv serve

# System packages for the tests (Go + Google's pstest sources for the Pub/Sub fake);
# installed with apt-get when root, otherwise the script says what is missing.
system-deps:
	scripts/install_system_deps.sh

lint: $(BIN)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy functions/upload_api/main.py
	$(BIN)/mypy functions/convert_worker/main.py
	$(BIN)/mypy functions/notify/main.py
	$(BIN)/mypy tests/unit/fakes.py

check-infra:
	scripts/check_infra.sh

# From an empty Google Cloud project to a serving one (docs/deploy.md):
#   make deploy PROJECT=my-project [DEPLOY_ARGS="--dry-run"]
deploy:
	@test -n "$(PROJECT)" || { echo "make deploy PROJECT=my-project" >&2; exit 64; }
	scripts/deploy.sh $(PROJECT) $(DEPLOY_ARGS)

# axe-core for the web page's accessibility check (tests/e2e/test_web_page.py injects
# its axe.min.js): the version pinned in tests/e2e/axe/package-lock.json, from npm.
AXE := build/axe/node_modules/axe-core/axe.min.js
$(AXE): tests/e2e/axe/package.json tests/e2e/axe/package-lock.json
	mkdir -p build/axe
	cp tests/e2e/axe/package.json tests/e2e/axe/package-lock.json build/axe/
	cd build/axe && npm ci --no-audit --no-fund --ignore-scripts
	touch $@

# Two passes: every test but the end-to-end ones spread over the cores (pytest-xdist;
# each worker has its own databases, emulators and folders), then tests/e2e one at a
# time (they start whole services, restart them on their ports and kill processes).
# Exit 5 is "no test selected", as a PYTEST_ARGS="-k ..." leaves one pass.
TEST_JOBS ?= auto
PYTEST := $(BIN)/pytest -q -p no:cacheprovider
test: system-deps $(BIN)/.dev $(AXE) lint check-infra
	$(PYTEST) -n $(TEST_JOBS) --ignore=tests/e2e $(PYTEST_ARGS) tests || test $$? -eq 5
	$(PYTEST) $(PYTEST_ARGS) tests/e2e || test $$? -eq 5

# Mutation score of domain/ and services/ (docs/testing.md): slow, so not part of `test`.
# mutmut names a module by its path: it runs in build/mutation/, where src/ is shared/.
# QUICK=1 runs the unit tests only (build/mutation-unit/): a lower bound, in far less time.
MUTANTS ?=
MUTMUT_CHILDREN ?= 2
MUTATION_DIR := build/mutation$(if $(QUICK),-unit)
mutation: $(BIN)/.dev
	mkdir -p $(MUTATION_DIR)
	ln -sfn ../../shared $(MUTATION_DIR)/src
	ln -sfn ../../tests $(MUTATION_DIR)/tests
	ln -sfn ../../docs $(MUTATION_DIR)/docs
	for f in README.md app.yaml worker.yaml notify.yaml; do ln -sfn ../../$$f $(MUTATION_DIR)/$$f; done
	rm -f $(MUTATION_DIR)/pyproject.toml
	if [ -n "$(QUICK)" ]; then \
	  sed 's|"tests/unit", "tests/integration",|"tests/unit",|' pyproject.toml \
	    > $(MUTATION_DIR)/pyproject.toml; \
	else ln -s ../../pyproject.toml $(MUTATION_DIR)/pyproject.toml; fi
	cd $(MUTATION_DIR) && nice -n 19 ../../$(BIN)/mutmut run --max-children $(MUTMUT_CHILDREN) $(MUTANTS)
	cd $(MUTATION_DIR) && ../../$(BIN)/mutmut results --all true \
	  | ../../$(BIN)/python ../../scripts/mutation_score.py --minimum 90

clean:
	rm -rf $(VENV) .venv-checkov build .pytest_cache .mypy_cache .ruff_cache
