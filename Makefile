# The two commands: `make demo` (set up, fetch the default model, estimate poses on a sample photo)
# and `make test` (set up with test extras, lint, run the suite). `.ci/run` calls `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
OUT ?= demo-out
MODEL ?= movenet-multipose
REF := tools/tfjs-reference
MPREF := tools/mediapipe-reference

.PHONY: demo test lint node-ref mediapipe-ref browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.demo: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[demo]'
	touch $@

$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@

demo: $(VENV)/.demo
	$(BIN)/posekit models pull $(MODEL)
	$(BIN)/posekit estimate "$${SAMPLE:-$$($(BIN)/python -m posekit.samples)}" --model $(MODEL) --out $(OUT)

# The TF.js reference harness for the parity tests (skipped, with a message, where npm is missing).
node-ref:
	@if command -v npm >/dev/null 2>&1; then \
	  if [ ! -f $(REF)/node_modules/.posekit-installed ] || [ $(REF)/package-lock.json -nt $(REF)/node_modules/.posekit-installed ]; then \
	    (cd $(REF) && npm ci --no-audit --no-fund --loglevel=error) && touch $(REF)/node_modules/.posekit-installed; \
	  fi; \
	else echo "npm not found: the TF.js parity tests will be skipped"; fi

# The MediaPipe Pose reference for the BlazePose tests (skipped, with a message, where it cannot be installed).
# Its own venv: mediapipe 0.10.14 pins protobuf<5 and is built against numpy 1, which posekit's pins exclude.
mediapipe-ref:
	@if [ ! -f $(MPREF)/.venv/.posekit-installed ]; then \
	  ($(PYTHON) -m venv $(MPREF)/.venv && $(MPREF)/.venv/bin/pip install -q "mediapipe==0.10.14" "numpy<2" \
	    "opencv-contrib-python<4.11" pillow && touch $(MPREF)/.venv/.posekit-installed) >/tmp/posekit-mediapipe.log 2>&1 \
	  || echo "mediapipe==0.10.14 did not install (see /tmp/posekit-mediapipe.log): the MediaPipe parity tests will be skipped"; \
	fi

# Headless Chromium + chromedriver from Debian's packages for the web page tests (skipped, with a message,
# where they cannot be installed: not root or no apt-get).
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver) \
	    >/tmp/posekit-apt.log 2>&1 || { echo "apt-get install chromium failed (see /tmp/posekit-apt.log)"; exit 1; }; \
	else echo "chromium not found and not root: the browser tests will be skipped"; fi

lint: $(VENV)/.test
	$(BIN)/ruff check src tests benchmarks

test: $(VENV)/.test node-ref mediapipe-ref browser lint
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) $(OUT) $(REF)/node_modules $(MPREF)/.venv .pytest_cache .ruff_cache
