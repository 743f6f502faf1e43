"""The shape of the code: imports point one way, and no handler filter makes aiogram hop to a thread."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app.routers import make_routers

ROOT = Path(__file__).resolve().parents[2]

# Each floor may import only the floors listed for it (and itself). Base utilities (bot/config.py, bot/i18n.py,
# bot/logs.py, bot/catalogs.py) stand beside the domain: everyone may use them.
BASE = {"bot.config", "bot.i18n", "bot.logs", "bot.catalogs"}
FLOORS: dict[str, set[str]] = {
    "bot.domain": set(),
    "storage": {"bot.domain"},
    "bot.services": {"bot.domain", "storage"},
    "ui": {"bot.domain", "storage", "bot.services"},
    "pushes": {"bot.domain", "storage", "bot.services", "ui"},
    "conversations": {"bot.domain", "storage", "bot.services", "ui", "pushes"},
    "handlers": {"bot.domain", "storage", "bot.services", "ui", "pushes", "conversations"},
    "app": {"bot.domain", "storage", "bot.services", "ui", "pushes", "conversations", "handlers", "sandbox"},
    "sandbox": set(),
}
OURS = ("bot", "ui", "pushes", "conversations", "handlers", "app", "storage", "sandbox")


def floor_of(module: str) -> str | None:
    if module in BASE:
        return None
    for floor in sorted(FLOORS, key=len, reverse=True):
        if module == floor or module.startswith(floor + "."):
            return floor
    return None


def imports_of(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return found


def modules() -> list[tuple[str, Path]]:
    result = []
    for top in OURS:
        for path in sorted((ROOT / top).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            result.append((name, path))
    return result


def test_imports_point_one_way() -> None:
    wrong = []
    for name, path in modules():
        own = floor_of(name)
        if own is None:
            continue
        for line, imported in imports_of(path):
            if imported.split(".")[0] not in OURS:
                continue
            target = floor_of(imported)
            if target is None or target == own:
                continue
            if target not in FLOORS[own]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} ({own}) imports {imported} ({target})")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_the_check_catches_an_upward_import(tmp_path: Path) -> None:
    """The rule above can fail: a service importing a handler is against it."""
    assert "handlers" not in FLOORS["bot.services"]
    assert floor_of("handlers.menu") == "handlers" and floor_of("bot.services.visits") == "bot.services"


def test_conversations_do_not_import_each_other_in_a_circle() -> None:
    graph: dict[str, set[str]] = {}
    for name, path in modules():
        graph[name] = {imported for _line, imported in imports_of(path) if imported in dict(modules())}
    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False
    circles = [name for name in graph if reaches(name, name, {name})]
    assert not circles, f"modules that import themselves through others: {circles}"


@pytest.mark.parametrize("router", make_routers(), ids=lambda router: router.name)
def test_every_filter_is_async(router) -> None:  # type: ignore[no-untyped-def]
    """aiogram runs a synchronous filter (a bare State, magic F, a lambda) in a thread on every update."""
    sync = []
    for observer_name, observer in router.observers.items():
        for handler in observer.handlers:
            for flt in handler.filters or ():
                if not flt.awaitable:
                    sync.append(f"{observer_name} {handler.callback.__name__}: {flt.callback!r}")
    assert not sync, "synchronous filters (use StateFilter / the async filters in ui/filters.py):\n" + "\n".join(sync)
