# trialkit: the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
WORK   ?= trialkit-work
PILOT  ?= ../shared/data/cdiscpilot01

.PHONY: install demo test bench lock docs clean

install: $(STAMP)

# Everything installs from the lock file (exact versions, SHA-256 hashes);
# then trialkit itself, editable, without touching the network again.
$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/trialkit --workspace $(WORK) ingest
	$(BIN)/trialkit --workspace $(WORK) validate
	@echo "Outputs are in $(WORK)/ (manifest: $(WORK)/manifest.json)"

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	cd tests/bench && ../../$(BIN)/python run_bench.py --out ../../bench-results.json

# Regenerate the lock file after changing dependencies in pyproject.toml.
lock:
	uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 --no-header -o requirements.lock

clean:
	rm -rf $(VENV) $(WORK) build *.egg-info
