# icon-registry: `make demo` (the main job) and `make test`; both set up .venv first.
#   make setup   create .venv: torch (CPU wheel by default) FIRST, then the project with extras
#   make demo    validate the catalog, verify its claims, build the site, run a small example
#   make test    the test suite
# Bring your own torch build with e.g. `make setup TORCH_SPEC='torch==2.5.1'` or install it
# into .venv before `make setup` (an importable torch is kept).

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
ICON := $(VENV)/bin/icon
STAMP := $(VENV)/.icon-registry-installed

.PHONY: setup demo test validate verify site example table clean help

help:
	@echo "make demo   validate + verify the catalog, build the site, run a small example"
	@echo "make test   run the test suite"
	@echo "make setup  create $(VENV) (torch first, then icon-registry with [test,site,repro])"

setup: $(STAMP)

# lightly is a test peer whose loss sources the tests load by path: its own dependencies
# (torchvision) break beside the CPU torch wheel, so it is installed without them.
$(STAMP): pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[test,site,repro]"
	$(PY) -m pip install -q --no-deps lightly
	touch $(STAMP)

validate: setup
	$(ICON) validate

table: setup
	$(ICON) table

verify: setup
	$(ICON) verify --all --jobs 2

site: setup
	$(ICON) site build

example: setup
	$(ICON) list "*sne*"
	$(ICON) show simclr
	$(PY) -c "import torch, icon_registry; \
	loss = icon_registry.compile_loss('simclr', tau=0.1); \
	z = torch.randn(8, 16, requires_grad=True); ids = torch.arange(4).repeat(2); \
	value = loss(z, ids=ids); value.backward(); \
	print(f'simclr loss on 8 random views: {value.item():.4f}; gradient norm {z.grad.norm().item():.4f}')"

demo: validate verify site example table

test: setup
	$(PY) -m pytest -q

clean:
	rm -rf build dist *.egg-info .pytest_cache .hypothesis
