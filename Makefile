# The two commands of the README. Both create .venv here and install the project into it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test install bench clean

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

## make test: the whole test suite (JS unit tests, then Python)
test: $(STAMP) mucomp_widget/static/widget.js
	npm test
	$(PY) -m pytest

## make bench: the speed benchmarks recorded in benchmarks/RESULTS.md
bench: $(STAMP)
	$(PY) benchmarks/bench_demo.py

clean:
	rm -rf $(VENV) mucomp-demo .pytest_cache
