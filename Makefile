# The few commands a newcomer needs. Each one sets up what is missing first.
.PHONY: setup demo test lint format serve clean

VENV := .venv/bin

setup:
	@./scripts/setup.sh

demo: setup
	$(VENV)/arena demo --db arena.db

test: setup lint
	$(VENV)/pytest

lint: setup
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/mypy

format: setup
	$(VENV)/ruff format .
	$(VENV)/ruff check --fix .

serve: setup
	$(VENV)/arena serve --db arena.db

clean:
	rm -rf .venv .mypy_cache .pytest_cache .ruff_cache *.egg-info
