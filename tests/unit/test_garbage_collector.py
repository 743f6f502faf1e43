"""Once started, the bot freezes what start-up made and collects young objects less often (app/assembly.py)."""

from __future__ import annotations

import gc

from app.assembly import GC_YOUNG_THRESHOLD, settle_garbage_collector


def test_start_up_objects_are_frozen_and_young_collections_are_rarer() -> None:
    before = gc.get_threshold()
    gc.unfreeze()
    try:
        settle_garbage_collector()
        assert gc.get_freeze_count() > 10_000  # the modules and objects imported so far
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
