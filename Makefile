# The two commands: `make demo` (set up + compile/verify/run the default model) and `make test`
# (set up + the whole test suite). Everything else here serves those two.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
MODEL  ?= ppocr-cls
PYTEST_ARGS ?=

.PHONY: setup demo test test-fast bench clean

$(BIN)/.installed: pyproject.toml
	./tools/setup-system.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test,tune,plot]'
	touch $@

setup: $(BIN)/.installed

demo: setup
	$(BIN)/edgec models fetch $(MODEL)
	$(BIN)/edgec compile $(MODEL) -t host -o out/$(MODEL) --force
	$(BIN)/edgec verify out/$(MODEL)
	$(BIN)/edgec run out/$(MODEL) --repeat 50
	$(BIN)/edgec inspect out/$(MODEL)

# pytest exits 5 when it collected no tests: that is a failure here, never a pass.
define run_pytest
	$(BIN)/python -m pytest $(1) $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; exit $$rc
endef

test: setup
	$(call run_pytest,tests)

# Inner loop: everything but the tests that compile real zoo models.
test-fast: setup
	$(call run_pytest,tests -m "not slow")

bench: setup
	$(BIN)/python tools/bench.py

clean:
	rm -rf out build .pytest_cache
