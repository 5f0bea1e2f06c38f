# The two commands the README promises. Both set everything up first (idempotent).
PYTHON ?= python3
PORT ?= 8501

.PHONY: app test lint

app:
	scripts/setup.sh app
	$(PYTHON) -m streamlit run app.py --server.port $(PORT)

test:
	scripts/setup.sh test
	$(MAKE) lint
	$(PYTHON) -m pytest

# Every code folder. pyproject's banned-api rule keeps streamlit, ui and app_pages out of tlcore.
lint:
	$(PYTHON) -m ruff check tlcore ui app_pages tests bench scripts app.py
