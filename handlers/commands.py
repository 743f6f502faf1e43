"""Commands no feature knows: said so, and the step the user is on is asked again.

A command is never the answer to a step (the step filters `Answer`/`NotMenuOrCommand` in ui/filters.py let it
through), so a known one reaches its feature from any state, and an unknown one ends here instead of being stored
as a name or a city.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from aiogram import Bot, Router
from aiogram.filters import Command, Filter
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.domain.text import shorten
from storage.models import Staff
from ui.flow import flow_of
from ui.keyboards import main_menu

_COMMAND_RE = re.compile(r"^/([^\s@]*)(?:@(\S*))?")


def registered_commands(routers: Iterable[Router]) -> frozenset[str]:
    """Every command name a `Command` filter of these routers (and their sub-routers) accepts, lower-cased."""
    names: set[str] = set()
    pending = list(routers)
    while pending:
        router = pending.pop()
        pending.extend(router.sub_routers)
        for handler in router.message.handlers:
            for filter_object in handler.filters or ():
                command = filter_object.callback
                if isinstance(command, Command):
                    names.update(c.lower() for c in command.commands if isinstance(c, str))
    return frozenset(names)


class UnknownCommand(Filter):
    """A command none of the bot's features registered, or one addressed to another bot."""

    def __init__(self, known: frozenset[str]) -> None:
        self.known = known

    async def __call__(self, message: Message, bot: Bot) -> bool:
        match = _COMMAND_RE.match(message.text or "")
        if match is None:
            return False
        name, mention = match.group(1).lower(), match.group(2)
        if mention is not None and mention.lower() != ((await bot.me()).username or "").lower():
            return True
        return name not in self.known


async def unknown_command(message: Message, state: FSMContext, staff: Staff, **data: Any) -> None:
    command = (message.text or "").split(maxsplit=1)[0]
    text = _("Unknown command {command}. Send /help to see what I can do.").format(command=shorten(command))
    flow = flow_of(await state.get_state())
    if flow is None:
        await message.answer(text, reply_markup=main_menu(staff.role))
        return
    await message.answer(text)
    await flow.reask(message, state, {**data, "staff": staff})


def make_router(known: frozenset[str]) -> Router:
    router = Router(name="unknown-commands")
    router.message.register(unknown_command, UnknownCommand(known))
    return router
