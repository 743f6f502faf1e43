"""aiogram's types are built on first use (app/deferred_models.py), and every one of them still builds and validates.

Each check runs in a fresh interpreter: this test process imported aiogram long ago."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_importing_the_app_leaves_aiogram_types_unbuilt() -> None:
    out = run("""
        import app, aiogram.types as t
        print(t.Message.__pydantic_complete__, t.Update.__pydantic_complete__)
    """)
    assert out.split() == ["False", "False"]


def test_every_type_and_method_builds_and_a_full_update_validates() -> None:
    out = run("""
        import app
        import aiogram.methods as m, aiogram.types as t
        from pydantic import BaseModel
        built = 0
        for module in (t, m):
            for name in module.__all__:
                model = getattr(module, name)
                if isinstance(model, type) and issubclass(model, BaseModel):
                    model.model_rebuild()  # raises if a forward reference can't be resolved
                    assert model.__pydantic_complete__, name
                    built += 1
        update = t.Update.model_validate({
            "update_id": 7,
            "callback_query": {"id": "q", "chat_instance": "c", "data": "cust:open:1",
                               "from": {"id": 5, "is_bot": False, "first_name": "秦"},
                               "message": {"message_id": 3, "date": 0, "chat": {"id": 5, "type": "private"},
                                           "text": "hi", "reply_markup": {"inline_keyboard": [[
                                               {"text": "a", "callback_data": "b"}]]},
                                           "contact": {"phone_number": "+8613800000000", "first_name": "q"},
                                           "location": {"latitude": 1.5, "longitude": 2.5}}}})
        markup = update.callback_query.message.reply_markup
        print(built, type(markup).__name__, update.callback_query.message.location.latitude)
        m.SendMessage(chat_id=1, text="x", reply_markup=markup).model_dump_json(exclude_defaults=True)
    """)
    built, markup, latitude = out.split()
    assert int(built) > 300 and markup == "InlineKeyboardMarkup" and latitude == "1.5"
