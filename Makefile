# Two commands matter: `make demo` and `make test`. Each sets up what it needs first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
DEMO_OUT ?= demo-out

.PHONY: demo test setup sample-output golden bench clean

$(STAMP): pyproject.toml
	@command -v pdftoppm >/dev/null 2>&1 && $(PYTHON) -c "import ctypes.util as u,sys; sys.exit(0 if u.find_library('pango-1.0') and u.find_library('harfbuzz-subset') else 1)" || \
	  { echo "Installing system libraries (pango for WeasyPrint, poppler-utils)"; \
	    (command -v apt-get >/dev/null && { $$(command -v sudo) apt-get update -qq && $$(command -v sudo) apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 poppler-utils >/dev/null; }) || \
	    echo "warning: could not install pango/poppler; install them with your package manager"; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

$(NODE_STAMP): package.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/reportgen demo --out $(DEMO_OUT)

test: $(STAMP) $(if $(wildcard package.json),$(NODE_STAMP))
	$(PY) -m pytest -n 2 --dist loadfile tests

# Regenerate the committed sample pack (sample_output/).
sample-output: $(STAMP)
	rm -rf sample_output
	$(VENV)/bin/reportgen demo --out sample_output

# Regenerate golden files after an intended output change; review the diff.
golden: $(STAMP)
	REPORTGEN_UPDATE_GOLDEN=1 $(PY) -m pytest -q tests -k golden

bench: $(STAMP)
	$(PY) benchmarks/sample_bench.py
	$(PY) benchmarks/collect_bench.py
	$(PY) benchmarks/render_bench.py

clean:
	rm -rf $(VENV) node_modules demo-out build dist
