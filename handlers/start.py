"""/start <code>: link a Telegram account with an invite code."""

from __future__ import annotations

from telegram import Update

from bot import callbacks
from bot.people import invites, relinking
from bot.rules.roles import ROLE_LABELS
from bot.texts import STALE_BUTTON, h
from handlers.common import BotContext, linked, pressed_button, refuse, refuse_stranger, reply, show
from handlers.help import help_text
from storage import queries
from storage.models import Person

ANSWERS = {
    "invalid": "That invite code is not valid. Please check the link you were sent, or ask for a new one.",
    "used": "That invite code has already been used. Ask your service for a new one if you need it.",
    "expired": "That invite code has expired. Please ask your service for a new one.",
    "revoked": "That invite code was withdrawn. Please ask your service for a new one.",
    "inactive": "That invite is for an account that is no longer active. Please contact your service.",
}


async def start(update: Update, context: BotContext) -> None:
    """Link the account (with a code) or greet a linked person."""
    services = context.services
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    code = context.args[0] if context.args else ""
    if not code:
        async with services.db.read() as s:
            person = await queries.person_by_telegram(s, user.id)
            roles = await queries.roles_of(s, person.id) if person else frozenset()
        if person is None:
            await refuse_stranger(update, context)
            return
        await reply(update, f"Hello {h(person.name)}.\n\n" + help_text(roles, services))
        return
    if len(code) > 64:
        code = code[:64]
    async with services.db.write() as s:
        result = await invites.redeem(s, code, telegram_user_id=user.id, chat_id=chat.id,
                                      now=services.clock.now())
        roles = await queries.roles_of(s, result.person.id) if result.status == "linked" else frozenset()
        if result.status == "linked":
            await services.limits.forget(s, user.id)  # no stranger any more
    if result.status in ("linked", "confirm"):
        services.wake_dispatcher()  # the old account, the manager: told through the outbox
    if result.status == "confirm":
        await reply(update, f"<b>{h(result.person.name)}</b> already has a linked Telegram account. "
                            "That account must confirm the move: we have asked it. If you no "
                            "longer have it, ask an administrator for a replacement code.")
    elif result.status == "linked":
        labels = ", ".join(ROLE_LABELS.get(r, r) for r in sorted(roles)) or "no role yet"
        await reply(
            update,
            f"✅ Linked. You are <b>{h(result.person.name)}</b> ({h(labels)}).\n\n"
            + help_text(roles, services),
        )
    elif result.status == "locked":
        minutes = max(1, int(result.wait.total_seconds() // 60) + 1) if result.wait else 15
        await reply(update, f"Too many wrong codes. Please wait {minutes} minutes and try again.")
    elif result.status == "other_account":
        await reply(update, f"This Telegram account is already linked to {h(result.person.name)}. "
                            "Ask your service to help if that is wrong.")
    else:
        await reply(update, ANSWERS.get(result.status, ANSWERS["invalid"]))


@linked
async def relink_button(update: Update, context: BotContext, person: Person) -> None:
    """The current account's Yes / No to moving the person to another account."""
    services = context.services
    pressed = await pressed_button(update, context, person, callbacks.RELINK, action="relink")
    if pressed is None:
        return
    async with services.db.write() as s:
        decision = await relinking.decide(s, int(pressed.args[0]), presser=person,
                                          yes=pressed.args[1] == "y",
                                          telegram_user_id=update.effective_user.id,
                                          now=services.clock.now())
    if decision.status == "stale":
        await refuse(update, context, person, action="relink", why="not an open request of theirs",
                     text=STALE_BUTTON)
        return
    services.wake_dispatcher()
    await show(update, h(decision.text))
    await update.callback_query.answer(decision.text if decision.status == "expired" else None)
