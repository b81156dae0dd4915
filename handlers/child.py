"""/child REF [kind]: a child's chronology, paged, for those who may see the child.

Thin: access is decided by ``services.access.may_see_child`` (a refusal is
answered politely and logged as ``access_refused``); the entries come from
``bot/review/chronology.py`` and the wording from ``chronology_texts``.
"""

from __future__ import annotations

from telegram import Update

from bot import callbacks
from bot.review import chronology
from bot.review import chronology_texts as texts
from bot.texts import STALE_BUTTON, h
from handlers.common import BotContext, linked, refuse, reply, show
from storage.models import Person


async def _page(context: BotContext, person: Person, child_ref: str, kind: str | None,
                page: int, *, record_view: bool, telegram_user_id: int | None, part: int = 1):
    """(text, buttons) of one page (or part of one), or None when the person may not see
    the child."""
    services = context.services
    async with services.db.read() as s:
        view = await services.access.may_see_child(s, person, child_ref)
        if view is None:
            return None
        shown = await chronology.page_of(
            s, services.settings, child_ref, tz=services.tz, today=services.today(),
            per_page=texts.PAGE_ENTRIES, page=page, kinds=[kind] if kind else None, view=view,
            now=services.clock.now())
    if shown is None:
        return None
    if record_view:
        async with services.db.write() as s:
            await chronology.viewed(s, at=services.clock.now(), actor_id=person.id,
                                    child_ref=child_ref, view=view, kind=kind,
                                    telegram_user_id=telegram_user_id)
    parts = texts.pages(child_ref, shown.entries, services.tz, kind, page=shown.page,
                        pages=shown.pages)
    part = min(max(part, 1), len(parts))
    return parts[part - 1], texts.page_buttons(child_ref, shown.page, shown.pages, kind,
                                               part=part, parts=len(parts))


@linked
async def child_command(update: Update, context: BotContext, person: Person) -> None:
    """/child A1 [incidents|placements|…]: the chronology, newest first, page 1."""
    args = context.args or []
    kind = texts.kind_from_word(args[1]) if len(args) > 1 else None
    if not args or len(args) > 2 or (len(args) == 2 and kind is None):
        await reply(update, h(texts.USAGE))
        return
    ref = args[0].strip()
    user = update.effective_user
    shown = await _page(context, person, ref, kind, 1, record_view=True,
                        telegram_user_id=user.id if user else None)
    if shown is None:
        await refuse(update, context, person, action="child", why="may not see this child",
                     text=texts.NOT_YOURS, child=ref)
        return
    await reply(update, *shown)


@linked
async def child_button(update: Update, context: BotContext, person: Person) -> None:
    """Page turns (``chp:<ref>:<page>[:<kind>]``, ``chq:<ref>:<page>:<part>[:<kind>]``),
    checked again at every press."""
    query = update.callback_query
    pressed = callbacks.parse(query.data, *callbacks.CHRONOLOGY)
    fixed = 3 if pressed is not None and pressed.action is callbacks.CHILD_PAGE_PART else 2
    kind = None
    if pressed is not None and len(pressed.args) > fixed:
        kind = texts.kind_from_word(pressed.args[fixed])
    if pressed is None or (len(pressed.args) > fixed and kind is None):
        await refuse(update, context, person, action="child button", why="malformed callback",
                     text=STALE_BUTTON)
        return
    ref, page = pressed.args[0], pressed.args[1]
    part = pressed.args[2] if fixed == 3 else 1
    shown = await _page(context, person, ref, kind, page, record_view=False,
                        telegram_user_id=None, part=part)
    if shown is None:
        await refuse(update, context, person, action="child button",
                     why="may not see this child", text=texts.NOT_YOURS, child=ref)
        return
    await query.answer()
    await show(update, *shown)
