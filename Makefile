# The two commands of the README:
#   make run    set up, then run the whole pipeline on the bundled sample corpus
#   make test   set up, then lint, type-check and run the tests
.PHONY: setup run test

setup:
	./scripts/setup.sh

run: setup
	.venv/bin/galvasr run

test: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check galvasr jobs accel tests benchmarks
	.venv/bin/mypy
	.venv/bin/pytest
