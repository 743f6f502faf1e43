# fieldbot: `make run` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint i18n bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Migrates the embedded SQLite database, loads the demo org when it is empty, runs the bot
# (against Telegram when BOT_TOKEN is set, else against the local sandbox).
run: $(STAMP)
	$(BIN)/fieldbot db upgrade
	$(BIN)/fieldbot run --demo-if-empty

test: $(STAMP)
	$(BIN)/pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check bot handlers conversations storage sandbox tests

# Re-extracts texts into locales/messages.pot, merges into the catalogs and lists what is left to translate.
i18n: $(STAMP)
	$(BIN)/python -m bot.catalogs sync

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) fieldbot.sqlite3 fieldbot.sqlite3-wal fieldbot.sqlite3-shm .pytest_cache
