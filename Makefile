.PHONY: setup run test lint format bench

setup:
	@bash scripts/setup.sh

run: setup
	@bash scripts/run.sh

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

test: setup lint
	.venv/bin/pytest -q -p no:cacheprovider

format: setup
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

bench: setup
	.venv/bin/python -m bench.trim
	.venv/bin/python -m bench.transcribe
	.venv/bin/python -m bench.queue
	.venv/bin/python -m bench.bot
	.venv/bin/python -m bench.find
