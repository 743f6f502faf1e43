"""Keyboards kept per language (ui/keyboards.py): built once, shared, and never served in the wrong language."""

from __future__ import annotations

from bot.i18n import make_i18n
from conversations.customer_card import choice_markup, nav_markup
from ui.keyboards import main_menu


def labels(markup: object) -> list[str]:
    rows = getattr(markup, "keyboard", None) or getattr(markup, "inline_keyboard", None) or []
    return [button.text for row in rows for button in row]


def test_a_kept_keyboard_is_shared_within_a_language_and_rebuilt_for_another() -> None:
    i18n = make_i18n("zh_CN")
    token = i18n.set_current(i18n)
    try:
        with i18n.use_locale("zh_CN"):
            chinese = main_menu("sales_rep")
            assert main_menu("sales_rep") is chinese
            assert main_menu("dealer_manager") is not chinese
            nav_zh = nav_markup()
            assert "✖️ 取消" in labels(nav_zh)
            picks = choice_markup("vehicle_type", [("tractor", "牵引车"), ("dump", "自卸车")])
            assert choice_markup("vehicle_type", [("tractor", "牵引车"), ("dump", "自卸车")]) is picks
            assert choice_markup("vehicle_type", [("tractor", "牵引车")]) is not picks
        with i18n.use_locale("en"):
            english = main_menu("sales_rep")
            assert english is not chinese
            assert labels(english) != labels(chinese) and len(labels(english)) == len(labels(chinese))
            assert "✖️ Cancel" in labels(nav_markup())
            assert nav_markup(back=False) is not nav_markup()
    finally:
        i18n.reset_current(token)
