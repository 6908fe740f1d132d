# The two commands of the README. Both set everything up themselves and skip what is already done.
.PHONY: demo test setup lint clean

VENV := .venv
BIN := $(VENV)/bin

setup:
	@bash tools/bootstrap.sh

demo: setup
	$(BIN)/iahemo demo -o demo_out

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

clean:
	rm -rf demo_out results .pytest_cache .ruff_cache
