# Two commands do all set-up on a fresh machine:
#   make reproduce   build .venv from requirements.lock and run the whole pipeline
#   make test        build .venv and run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= all
# What a run prints (docs/report.md): by default one line per finished step with the progress count,
# a heartbeat every 15 s from long steps and failures last (the logger plugin `steps`,
# analysis/runtime/console.py, found on PYTHONPATH); VERBOSE=1 prints Snakemake's full output instead.
VERBOSE ?=
SNAKEMAKE_OUTPUT := $(if $(VERBOSE),--printshellcmds,--logger=steps)
# A run killed half-way (README, "If a run is interrupted"): analysis/runtime/run_guard.py removes the lock it left
# when no Snakemake process works here any more (a live run's lock stays), then becomes Snakemake;
# --rerun-incomplete rebuilds the outputs of the steps that were killed.
SNAKEMAKE_RUN := PYTHONPATH="$(CURDIR)/workflow/plugins$(if $(PYTHONPATH),:$(PYTHONPATH))" $(BIN)/python -m analysis.runtime.run_guard \
  $(BIN)/snakemake --cores $(CORES) --rerun-incomplete $(SNAKEMAKE_OUTPUT)

.PHONY: reproduce test lint dryrun bench lock clean

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

reproduce: $(STAMP)
	@$(SNAKEMAKE_RUN)

# Your own cohorts (README, "Running your own cohort"): CONFIG is a YAML file holding a `cohorts:` block,
# merged over config/config.yaml; TARGETS (optional) are the outputs to build, else everything. Targets
# go before --configfile, which takes every word after it as a config file.
CONFIG ?=
TARGETS ?=
.PHONY: run
run: $(STAMP)
	@$(SNAKEMAKE_RUN) $(TARGETS) --configfile config/config.yaml $(CONFIG)

# The suite runs on every core: each test module goes to one worker as a whole (modules sharing a run
# together: tests/conftest.py), so each end-to-end run is made once; the end-to-end modules are queued
# first, in the order tests/conftest.py gives (TEST_WORKERS=0 runs the suite in this process).
# Python's bytecode caches are written even where PYTHONDONTWRITEBYTECODE is set: every worker would
# otherwise rewrite and compile each test module's assertions again (2.6 s per worker; docs/performance.md).
TEST_WORKERS ?= auto
test: $(STAMP)
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder

# The property-based tests of the contract and the release adapters with many examples (README, "Development";
# tests/hypothesis_profiles.py): FUZZ_EXAMPLES per property from a fresh random seed, spread over FUZZ_WORKERS,
# with Hypothesis' statistics. `make test` runs the same tests with 6 fixed examples each.
FUZZ_EXAMPLES ?= 1000
FUZZ_WORKERS ?= auto
.PHONY: fuzz
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz HYPOTHESIS_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -n $(FUZZ_WORKERS) --dist load \
	  --hypothesis-show-statistics tests/test_contract_properties.py tests/test_adapter_properties.py

# The DAG through workflow/profiles/slurm on a running SLURM cluster (tools/local_slurm.sh start);
# `make test` leaves these out, and without a cluster they skip and say why.
.PHONY: test-cluster
test-cluster: $(STAMP)
	$(BIN)/python -m pytest -m cluster tests/test_cluster.py

lint: $(STAMP)
	$(BIN)/ruff check analysis tests benchmarks tools workflow/scripts
	$(BIN)/snakemake --lint

dryrun: $(STAMP)
	$(BIN)/snakemake --dry-run --quiet

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_pipeline.py

# Planning the next cohort (docs/power.md): power, sample size and MDE of one cohort without a full run.
# POWER_CONFIG: extra config files, e.g. one holding `power_overrides:` (and the cohort, if it is not in
# config/config.yaml). Targets come before --configfile, which takes every word after it.
COHORT ?= paper_sim
POWER_CONFIG ?=
.PHONY: power
power: $(STAMP)
	@$(SNAKEMAKE_RUN) results/$(COHORT)/design/power.csv results/$(COHORT)/design/sample_size.csv \
	  results/$(COHORT)/design/mde.csv reports/$(COHORT)/figures/power_curves.png \
	  --configfile config/config.yaml $(POWER_CONFIG)

# Lock the registered plan: config/prereg.lock = sha256 of the canonicalised plan + date (docs/preregistration.md).
.PHONY: prereg-lock
prereg-lock: $(STAMP)
	$(BIN)/python -m analysis.prereg.lock --prereg config/prereg.yaml --lock config/prereg.lock

# Remove Snakemake's lock by hand: needed only when a run started on another machine sharing this folder was
# killed (make reproduce removes a lock a killed run left on this machine by itself).
.PHONY: unlock
unlock: $(STAMP)
	$(BIN)/snakemake --unlock

# Re-resolve the pins from requirements.in in a throw-away venv.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade "pip>=24"
	.venv-lock/bin/python -m pip install --quiet -r requirements.in
	{ echo "# Exact pins of every package in .venv (generated by \`make lock\` from requirements.in)."; \
	  .venv-lock/bin/python -m pip freeze --exclude-editable; } > requirements.lock
	rm -rf .venv-lock
	$(PYTHON) tools/write_environment_yml.py

clean:
	rm -rf results reports/*/ logs data/simulated .snakemake
