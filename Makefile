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

# The torch-training tests run in a pytest process of their own: after the in-process OpenFOAM/vmtk/gmsh tests
# of test_cfd and test_cli_workflow, a torch training step in the same process died with SIGSEGV (not reproduced
# when either group runs alone); two processes keep the native runtimes apart.
LEARNING_TESTS := tests/test_pointnet.py tests/test_surrogate.py tests/test_morph_net.py tests/test_shipped_models.py \
                  tests/test_seg.py

# The service tests start servers, dask clusters, PostgreSQL and Chromium: a process of their own, so a crash
# there cannot take the other groups down and their subprocesses never share the CFD tests' native runtimes.
SERVICE_TESTS := $(wildcard tests/test_service*.py)

test: lint
	$(BIN)/pytest $(addprefix --ignore=,$(LEARNING_TESTS) $(SERVICE_TESTS))
	$(BIN)/pytest $(LEARNING_TESTS)
	$(BIN)/pytest $(SERVICE_TESTS)

clean:
	rm -rf demo_out results .pytest_cache .ruff_cache
