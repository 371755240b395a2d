# The two commands of the README. Both create .venv here and install the project into it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test install bench browser wheel clean

# Re-install when the project metadata changes.
$(STAMP): pyproject.toml package.json package-lock.json
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -e '.[test]'
	# Compile umap's numba kernels once into numba's disk cache (15-20 s), so that the
	# first embedding in a fresh process takes seconds, not 17 s.
	$(PY) -c "from mucomp_widget.evaluation.embedding import warm_up; warm_up()"
	touch $(STAMP)

install: $(STAMP)

## make demo: the five built-in methods on digits (forget class 3), results in mucomp-demo/
demo: $(STAMP)
	$(VENV)/bin/mucomp run --preset digits --forget-class 3 \
		--methods ft,ga,rl,scrub,salun --out mucomp-demo

# Rebuild the front-end bundle when its sources change after installation.
JS_SOURCES := $(shell find js -name '*.js' -not -path '*/__tests__/*' 2>/dev/null) js/widget.css package.json
mucomp_widget/static/widget.js: $(JS_SOURCES) $(STAMP)
	npm run build

## make test: the whole test suite (JS unit tests, then Python, browser tests included), then
## the Python tests again with one torch thread: CPU results depend on the thread count, and
## no test may depend on one thread count's numbers (the browser and notebook tests run their
## own kernels, so they run once).
test: $(STAMP) mucomp_widget/static/widget.js browser
	npm test
	$(PY) -m pytest
	MUCOMP_TEST_THREADS=1 $(PY) -m pytest -q --ignore=tests/e2e --deselect tests/test_notebooks.py

# The browser tests drive Debian's Chromium (Playwright cannot download its own browser
# here). Install it when it is missing and we may (root with apt-get); otherwise say so:
# those tests then skip, unless MUCOMP_REQUIRE_BROWSER=1 (as in CI) makes them fail.
browser:
	@if [ -x "$${MUCOMP_CHROMIUM:-/usr/bin/chromium}" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Debian's chromium for the browser tests..."; \
	  apt-get install -y -q chromium >/dev/null 2>&1 || \
	  (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1) || \
	  echo "Could not install chromium: the browser tests will be skipped."; \
	else echo "No Chromium at /usr/bin/chromium and no apt-get as root: the browser tests will be skipped."; fi

## make wheel: the wheel and the sdist in dist/, both carrying the front-end bundle, checked
## by twine. The bundle is rebuilt first when js/ changed (the build itself skips npm where a
## bundle exists, so that a wheel builds from the sdist without Node.js); `python -m build`
## builds the sdist, then the wheel from that sdist, so what ships is what the sdist can make.
wheel: $(STAMP) mucomp_widget/static/widget.js
	rm -rf dist
	$(PY) -m build --outdir dist .
	$(PY) -m twine check --strict dist/*

## make bench: the speed benchmarks recorded in benchmarks/RESULTS.md
bench: $(STAMP)
	$(PY) benchmarks/bench_demo.py

clean:
	rm -rf $(VENV) mucomp-demo .pytest_cache
