"""Every text in the code is translated in every catalog, and no catalog keeps texts the code dropped."""

from __future__ import annotations

import re

from babel import Locale
from babel.messages.pofile import read_po

from bot.catalogs import extract, problems
from bot.config import SUPPORTED_LOCALES
from bot.i18n import LOCALES_DIR, make_i18n


def test_catalogs_are_complete_and_current() -> None:
    gaps = problems()
    assert gaps == [], "run `make i18n` and translate:\n" + "\n".join(gaps[:40])


def test_extraction_finds_the_texts() -> None:
    ids = {message.id for message in extract() if message.id}
    assert "You are already registered." in ids
    assert len(ids) > 50


def test_catalogs_load_and_translate() -> None:
    i18n = make_i18n("zh_CN")
    assert set(SUPPORTED_LOCALES) <= set(i18n.available_locales)
    assert i18n.gettext("Cancelled.", locale="zh_CN") == "已取消。"
    assert i18n.gettext("Cancelled.", locale="en") == "Cancelled."
    # Babel reads Telegram's codes as zh_Hans_CN: a lookup by Babel's name would miss our zh_CN folder.
    assert str(Locale.parse("zh-hans", sep="-")) == "zh_Hans"
    assert (LOCALES_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po").exists()


def test_placeholders_survive_translation() -> None:
    import re

    from bot.catalogs import load

    for locale in SUPPORTED_LOCALES:
        for message in load(locale):
            if not message.id or not message.string:
                continue
            source = message.id if isinstance(message.id, str) else message.id[0]
            target = message.string if isinstance(message.string, str) else message.string[0]
            wanted = set(re.findall(r"\{(\w+)\}", source))
            assert set(re.findall(r"\{(\w+)\}", target)) == wanted, (locale, source)


# A Chinese side of an ASCII mark: a Han character, Chinese punctuation or a {placeholder} (which stands for a name,
# a label or a number in a Chinese line). Latin tokens, URLs, times (14:00) and amounts (2,500) have Latin or digits
# on at least one side and pass.
_CJK = "\u3000-\u303f\u4e00-\u9fff\uff00-\uffef"
_ASCII_IN_CHINESE = re.compile(rf"(?<=[{_CJK}}}]) ?[,:()] ?(?=[{_CJK}{{])|(?<=[{_CJK}]) ?[,:()]|[,:()] ?(?=[{_CJK}])")


def ascii_punctuation_in_chinese(text: str) -> list[str]:
    if not re.search(r"[\u4e00-\u9fff]", text):
        return []
    return [match.group() for match in _ASCII_IN_CHINESE.finditer(text)]


def test_the_rule_catches_ascii_punctuation_and_spares_latin_tokens() -> None:
    for bad in ("• {name}, {stage}: {day}（已逾期）", "客户: {name}", "经销商 (4S店)", "恒通 ({kind})",
                "个人客户, 个体客户"):
        assert ascii_punctuation_in_chinese(bad), bad
    for good in ("时间：2030年12月5日 14:00", "例如：\n场地费 3000\n礼品 2,500", "请访问 https://example.com 查看",
                 "发送 /activity 编号", "• {name}，{stage}：{day}", "Hello, world: (ok)"):
        assert not ascii_punctuation_in_chinese(good), good


def test_no_zh_cn_text_uses_ascii_punctuation_next_to_chinese() -> None:
    with open(LOCALES_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po", "rb") as po:
        catalog = read_po(po, locale="zh_CN")
    offenders = {message.id: ascii_punctuation_in_chinese(message.string) for message in catalog
                 if message.id and isinstance(message.string, str)}
    assert {msgid: marks for msgid, marks in offenders.items() if marks} == {}
