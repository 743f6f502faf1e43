"""A non-editable install works: the wheel carries what is read at run time (catalogs, playbook and demo data,
migrations, the Bot API spec), and an installed copy, away from the source tree, speaks both languages.

Offline: the wheel is built without build isolation and installed with --no-index --no-deps into a fresh venv
that borrows this test venv's site-packages for the dependencies (a plain path in a .pth file, so the editable
install's finder there is not loaded and cannot shadow the wheel).
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IGNORED = shutil.ignore_patterns(".venv", ".git", "*.egg-info", "build", "dist", "__pycache__", ".pytest_cache",
                                 ".ruff_cache", "*.sqlite3*", "*.mo", ".env")
RUNTIME_FILES = ["locales/zh_CN/LC_MESSAGES/messages.po", "locales/en/LC_MESSAGES/messages.po",
                 "bot/domain/playbook.yaml", "bot/domain/approval_rules.yaml", "bot/data/demo_org.yaml",
                 "storage/migrations/env.py", "storage/migrations/script.py.mako",
                 "storage/migrations/versions/0001_foundation.py", "sandbox/telegram-bot-api/api.json"]
CHECK = """
import pathlib, sys
import bot
from bot.i18n import make_i18n
assert pathlib.Path(bot.__file__).is_relative_to(pathlib.Path(sys.prefix)), bot.__file__
i18n = make_i18n("zh_CN")
print(i18n.gettext("Cancelled.", locale="zh_CN"))
print(i18n.gettext("Cancelled.", locale="en"))
"""


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_wheel_ships_runtime_files_and_an_installed_copy_loads_its_texts(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=IGNORED)
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
        "-w", tmp_path / "dist", source, cwd=tmp_path)
    [wheel] = (tmp_path / "dist").glob("fieldbot-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert [name for name in RUNTIME_FILES if name not in names] == []

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    purelib = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path)
                   .strip())
    (purelib / "borrowed_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n", encoding="utf-8")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index", wheel,
        cwd=tmp_path)

    elsewhere = tmp_path / "elsewhere"  # not the source tree: nothing can be picked up from the working directory
    elsewhere.mkdir()
    zh, en = run(python, "-c", CHECK, cwd=elsewhere).splitlines()
    assert (zh, en) == ("已取消。", "Cancelled.")  # i18n-ok: the installed zh_CN catalog
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "TELEGRAM_API_BASE", "REDIS_URL")}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{elsewhere / 'installed.sqlite3'}"
    assert run(venv / "bin" / "fieldbot", "--version", cwd=elsewhere, env=env).startswith("fieldbot 0.")
    # the migrations and the demo org come from the installed package too
    assert "units: 11 created" in run(venv / "bin" / "fieldbot", "demo", cwd=elsewhere, env=env)
