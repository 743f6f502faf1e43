"""aiogram's Telegram types, built when first used instead of all at import.

Every aiogram type is a pydantic model declared with `defer_build=True`, but `aiogram.types` then calls
`model_rebuild()` on all of them at import, and each of those ~300 models compiles its own copy of every type it
contains (Message holds nearly all). On this machine that costs ~100 MB of the ~165 MB that importing aiogram
takes: more than the whole rest of fieldbot (docs/BENCHMARKS.md, peak RSS). Skipping only those import-time
rebuilds lets pydantic do what defer_build promises: a model is built on first validation, once, sharing the
schemas of what it contains. What aiogram passed to model_rebuild (the names its forward references need) is put
where pydantic's deferred build looks for them, the namespace of each type's own module, so validation is the same
(tests/unit/test_deferred_models.py builds every type and method this way).

`defer()` must run before anything imports aiogram.types; `app/__init__.py` calls it, so `fieldbot`, the bench
and the tests (tests/conftest.py imports `app` first) all run this way.
"""

from __future__ import annotations

import sys
from typing import Any


def defer() -> bool:
    """Imports aiogram.types without building its models; False if it was already imported (nothing changes)."""
    if "aiogram.types" in sys.modules:
        return False
    from pydantic import BaseModel

    original = BaseModel.__dict__["model_rebuild"]
    names: dict[str, Any] = {}

    def rebuild_later(cls: type[BaseModel], *args: Any, _types_namespace: Any = None, **kwargs: Any) -> Any:
        if _types_namespace is not None and cls.__module__.startswith("aiogram.types."):
            names.update(_types_namespace)  # aiogram's import-time call: keep its names, build on first use
            return None
        return original.__func__(cls, *args, _types_namespace=_types_namespace, **kwargs)

    BaseModel.model_rebuild = classmethod(rebuild_later)  # type: ignore[method-assign, assignment]
    try:
        import aiogram.types  # noqa: F401  (the import this module exists for)
    finally:
        BaseModel.model_rebuild = original  # type: ignore[method-assign]
    for module_name, module in list(sys.modules.items()):
        if module_name.startswith("aiogram.types.") and module is not None:
            for name, value in names.items():
                module.__dict__.setdefault(name, value)
    return True
