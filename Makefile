# The two commands the README promises. Both set everything up first (idempotent).
PYTHON ?= python3
PORT ?= 8501

.PHONY: app test lint

app:
	scripts/setup.sh app
	$(PYTHON) -m streamlit run app.py --server.port $(PORT)

test:
	scripts/setup.sh test
	$(PYTHON) -m pytest

lint:
	$(PYTHON) -m ruff check tlcore tests app.py pages bench
