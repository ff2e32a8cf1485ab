# audioconv: `make run` serves the embedded default; `make test` installs what the
# tests need and runs the whole suite. Versions are pinned in requirements*.txt.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8080
export PORT

.PHONY: run test lint check-infra system-deps mutation clean deploy

# Runtime only: what `make run` needs (ffmpeg comes from a pinned pip wheel).
$(BIN)/.runtime: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# Everything the tests need on top.
$(BIN)/.dev: $(BIN)/.runtime requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

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

check-infra:
	scripts/check_infra.sh

# From an empty Google Cloud project to a serving one (docs/deploy.md):
#   make deploy PROJECT=my-project [DEPLOY_ARGS="--dry-run"]
deploy:
	@test -n "$(PROJECT)" || { echo "make deploy PROJECT=my-project" >&2; exit 64; }
	scripts/deploy.sh $(PROJECT) $(DEPLOY_ARGS)

test: system-deps $(BIN)/.dev lint check-infra
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

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
