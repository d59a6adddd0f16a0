# The README's commands. Everything runs inside .venv, created on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check format bench bench-large eval-real screenshot clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## ingest data/, search it and ask it (Ollama, or the test double when none runs)
	$(BIN)/python scripts/demo.py

test: $(STAMP)  ## run the whole test suite (starts its own Ollama double and Chroma server)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: $(STAMP)  ## lint, format check and type check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)  ## apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)  ## run the benchmarks (writes bench/results/*.json)
	$(BIN)/python -m bench.run

bench-large: $(STAMP)  ## the benchmarks with 1M chunks too (hours: the 1M build alone ~3 h on 2 cores)
	$(BIN)/python -m bench.run --large

eval-real: $(STAMP)  ## nDCG@10 on SciFact and XQuAD en/vi with a real embedder (slow: ~15 min)
	$(BIN)/python scripts/eval_real.py

screenshot: $(STAMP)  ## screenshot of the chat page for the README (docs/chat-page.png)
	$(BIN)/python scripts/screenshot.py

clean:  ## remove the venv and runtime state
	rm -rf $(VENV) data/chroma data/chroma-double .pytest_cache .mypy_cache .ruff_cache
