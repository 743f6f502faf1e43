# fieldbot: `make run` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install lock run test lint i18n bench screenshots clean

# Installs exactly the locked set (hashes checked), then fieldbot itself without touching it.
$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Re-resolves pyproject.toml's ranges into requirements.lock (with hashes); commit the result.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
		--upgrade --quiet -o requirements.lock

install: $(STAMP)

# Migrates the embedded SQLite database, loads the demo org when it is empty, runs the bot
# (against Telegram when BOT_TOKEN is set, else against the local sandbox).
run: $(STAMP)
	$(BIN)/fieldbot db upgrade
	$(BIN)/fieldbot run --demo-if-empty

# The linters first, so CI checks them too.
test: lint
	$(BIN)/pytest -q $(PYTEST_ARGS)

# ruff over everything; mypy over the application code (what it checks: [tool.mypy] in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check bot ui pushes handlers conversations app storage sandbox bench tests
	$(BIN)/mypy

# Re-extracts texts into locales/messages.pot, merges into the catalogs and lists what is left to translate.
i18n: $(STAMP)
	$(BIN)/python -m bot.catalogs sync

bench: $(STAMP)
	$(BIN)/python -m bench
	$(BIN)/python -m bench.dispatcher

# Re-takes the README's screenshots of the sandbox chat page (docs/screenshots/) by running the browser tests,
# which need Debian's Chromium: apt-get install -y chromium fonts-noto-cjk fonts-noto-color-emoji
screenshots: $(STAMP)
	FIELDBOT_SCREENSHOTS=docs/screenshots $(BIN)/pytest -q tests/browser

clean:
	rm -rf $(VENV) fieldbot.sqlite3 fieldbot.sqlite3-wal fieldbot.sqlite3-shm .pytest_cache .mypy_cache
