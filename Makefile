# make run   -- set up (once) and start the app
# make test  -- set up (once) and run the whole test suite
# make bench -- run the benchmarks and print the figures for README
# make build -- the one-file app in dist/
# make build-dir -- the folder build, and dist/planning-poker-linux.tar.gz of it
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: run headless test bench build build-dir clean

run: $(VENV)/.run-deps
	@./.ci/install-system run
	QTWEBENGINE_CHROMIUM_FLAGS="$${QTWEBENGINE_CHROMIUM_FLAGS:---no-sandbox}" $(PY) poker.py $(ARGS)

headless: $(VENV)/.run-deps
	$(PY) poker.py --headless $(ARGS)

test: $(VENV)/.dev-deps
	@./.ci/install-system test
	$(PY) -m pytest $(ARGS)

bench: $(VENV)/.dev-deps
	@./.ci/install-system test
	$(PY) tests/bench.py $(ARGS)

build: $(VENV)/.dev-deps
	@./.ci/install-system build
	$(VENV)/bin/pyinstaller --noconfirm build.spec

build-dir: $(VENV)/.dev-deps
	@./.ci/install-system build
	POKER_ONEDIR=1 $(VENV)/bin/pyinstaller --noconfirm build.spec
	tar -C dist -czf dist/planning-poker-linux.tar.gz planning-poker-dir

$(VENV)/.run-deps: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.run-deps

clean:
	rm -rf $(VENV) build dist .pytest_cache
