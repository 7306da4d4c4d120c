# trialkit: the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
WORK   ?= trialkit-work
PILOT  ?= ../shared/data/cdiscpilot01

.PHONY: install demo test bench bench-scale lock docs clean

install: $(STAMP)

# Everything installs from the lock file (exact versions, SHA-256 hashes);
# then trialkit itself, editable, without touching the network again.
$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	# bytecode for trialkit's own modules (pip compiles the dependencies): every command starts about 0.1 s
	# sooner, also where PYTHONDONTWRITEBYTECODE keeps Python from caching it
	$(BIN)/python -m compileall -q cli analyses schemas fixtures > /dev/null
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/trialkit --workspace $(WORK) ingest
	$(BIN)/trialkit --workspace $(WORK) validate
	$(BIN)/trialkit --workspace $(WORK) run fixtures/seed_trial/plan.toml
	$(BIN)/trialkit --workspace $(WORK) report --check
	@echo ""
	@echo "Outputs are in $(WORK)/ (every file is listed in $(WORK)/manifest.json)."
	@echo "Report: $(WORK)/report.html"

test: $(STAMP)
	$(BIN)/python -m pytest -q --durations=5

# Survival at scale runs on synthetic trials of these sizes (made once into bench-data/);
# `make bench BENCH_SIZES=10000` for a quick run, `BENCH_SIZES=` for none (BENCH_MMRM_SIZES likewise
# for the MMRM cases, default 2000,20000). R and lifelines
# are compared when present and skipped, with the reason printed, when not. BENCH_ARGS goes to
# run_bench.py: `make bench BENCH_ARGS="--only 10k --runs 1"`.
BENCH_SIZES ?= 10000,100000,1000000
BENCH_MMRM_SIZES ?= 2000,20000
BENCH_ARGS  ?=
bench: $(STAMP)
	cd tests/bench && BENCH_SIZES=$(BENCH_SIZES) BENCH_MMRM_SIZES=$(BENCH_MMRM_SIZES) ../../$(BIN)/python run_bench.py --out ../../bench-results.json $(BENCH_ARGS)

# The scale suite: every stage on simulated trials of these sizes (made once into bench-data/sim-N/), with
# peak memory, side by side with R where R does the same work; then again on the same trial as CSV shaped
# otherwise (columns reversed, extra variables); each stage's scaling exponent between the sizes run.
# An hour or more at 1,000,000 subjects.
BENCH_SCALE_SIZES ?= 10000,100000,1000000
bench-scale: $(STAMP)
	cd tests/bench && BENCH_SCALE_SIZES=$(BENCH_SCALE_SIZES) ../../$(BIN)/python run_bench.py --only "scale " --runs 1 --out ../../bench-scale-results.json $(BENCH_ARGS)

# The CLI reference, generated from --help (a test fails when it drifts).
docs: $(STAMP)
	$(BIN)/typer trialkit.cli.app utils docs --name trialkit --title "trialkit command reference" --output docs/cli.md

# Regenerate the lock file after changing dependencies in pyproject.toml.
lock:
	uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 --no-header -o requirements.lock

clean:
	rm -rf $(VENV) $(WORK) build *.egg-info
