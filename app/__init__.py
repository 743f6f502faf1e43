"""The app shell: assembly, the update intake, the per-update pipeline, the runner, the scheduler wiring and
the CLI."""

from app.deferred_models import defer

defer()  # before anything imports aiogram.types: see app/deferred_models.py
