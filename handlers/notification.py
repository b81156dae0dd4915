"""Schedule 7 notifications in Telegram (issue 16): the per-recipient buttons on the
reminder, the old single button (answered, records nothing), and the managers' commands
/notifications (the register), /s47, /dbsreferral and /notnotifiable."""

from __future__ import annotations

from datetime import timedelta

from telegram import Update

from bot import callbacks
from bot.record import notification, thread
from bot.record import notification_texts as nt
from bot.review import register
from bot.rules import notifiable
from bot.rules.outcomes import S47_OUTCOMES
from bot.texts import STALE_BUTTON, h, hhmm
from handlers.common import BotContext, linked, pressed_button, refuse, reply
from storage.models import Person

REGISTER_DAYS = 90
NOT_A_MANAGER = ("The notification register is for the registered manager and team "
                 "managers. /help shows what you can do.")
S47_USAGE = ("Send /s47 with the report reference and <b>started</b> or <b>concluded</b>, "
             "for example: <code>/s47 INC-2026-000123 started</code> or "
             "<code>/s47 INC-2026-000123 concluded no further action</code>")
DBS_USAGE = ("Send /dbsreferral with a reference for the person referred (not their name), "
             "optionally a report reference, for example: "
             "<code>/dbsreferral STAFF-0042 INC-2026-000123</code>")
NOT_NOTIFIABLE_USAGE = ("Send /notnotifiable with the report reference and the reason, for "
                        "example: <code>/notnotifiable INC-2026-000123 no serious injury after "
                        "hospital review</code>")


@linked
async def notification_button(update: Update, context: BotContext, person: Person) -> None:
    services = context.services
    query = update.callback_query
    pressed = await pressed_button(update, context, person, *callbacks.NOTIFICATION,
                                   action="record notification")
    if pressed is None:
        return
    tg = update.effective_user.id
    ask = None
    async with services.db.write() as s:
        if pressed.action is callbacks.NOTIFIED:
            result = await notification.record_notified(
                s, services, incident_id=pressed.args[0], person=person, telegram_user_id=tg)
        elif pressed.action is callbacks.NOTE_MADE:
            result = await notification.record_made(
                s, services, record_id=pressed.args[0], method=str(pressed.args[1]),
                person=person, telegram_user_id=tg)
        elif pressed.action is callbacks.NOTE_NOT_REQUIRED:
            result = await notification.record_not_required(
                s, services, record_id=pressed.args[0], person=person,
                reason=nt.AREA_SAME_REASON, telegram_user_id=tg)
        else:
            result = await notification.record_confirmed(
                s, services, record_id=pressed.args[0], person=person, telegram_user_id=tg)
        if result.status in ("recorded", "confirmed") and \
                pressed.action is not callbacks.NOTE_NOT_REQUIRED:
            # A short guided exchange: the next thing typed is the reference given (also for
            # an event without a report, a DBS referral, tapped on its reminder or /overdue).
            confirmation = result.status == "confirmed"
            state = await thread.ask_notification_reference(
                s, services, person, update.effective_chat.id,
                incident_id=result.incident.id if result.incident else None,
                record_id=result.record.id,
                field="confirm_reference" if confirmation else "reference")
            ask = (nt.ask_reference(result.record.recipient, confirmation),
                   [[(nt.SKIP_LABEL, callbacks.PENDING_CANCEL.data(state.id))]])
    if result.status in ("recorded", "confirmed"):
        services.wake_dispatcher()
        if pressed.action is callbacks.NOTE_NOT_REQUIRED:
            text = nt.not_required_answer(result.record.recipient, result.missing)
        elif result.status == "recorded":
            text = nt.made_answer(result.record.recipient, result.record.method, result.missing)
        else:
            text = nt.confirmed_answer(result.record.recipient, result.missing)
        await query.answer(text, show_alert=bool(result.missing))
        if ask is not None:
            await reply(update, *ask)
    elif result.status == "already":
        at = hhmm(result.at, services.tz) if result.at else "?"
        await query.answer(f"Already recorded by {result.by_name} at {at}.", show_alert=True)
    elif result.status == "refused":
        await query.answer(nt.REFUSED, show_alert=True)
    elif result.status == "old_button":
        await query.answer(nt.OLD_BUTTON, show_alert=True)
    elif result.status == "no_confirmation_needed":
        await query.answer(nt.NO_CONFIRMATION_NEEDED, show_alert=True)
    else:
        await query.answer(STALE_BUTTON, show_alert=True)


@linked
async def enquiry_button(update: Update, context: BotContext, person: Person) -> None:
    """From a report's Close menu: a section 47 enquiry concluded, then its outcome."""
    services = context.services
    query = update.callback_query
    pressed = await pressed_button(update, context, person, *callbacks.ENQUIRY,
                                   action="s47 outcome")
    if pressed is None:
        return
    tg = update.effective_user.id
    async with services.db.write() as s:
        if pressed.action is callbacks.ENQUIRY_CONCLUDED:
            result = await notification.enquiry_menu(s, services, person=person,
                                                     incident_id=pressed.args[0],
                                                     telegram_user_id=tg)
        else:
            result = await notification.record_enquiry_outcome(
                s, services, person=person, incident_id=pressed.args[0],
                code=str(pressed.args[1]), telegram_user_id=tg)
    await query.answer()
    if result.status == "choose":
        await reply(update, *nt.enquiry_menu(result.incident.id, result.incident.reference))
        return
    what = notifiable.EVENT_LABELS[notifiable.S47_OUTCOME]
    if pressed.action is callbacks.ENQUIRY_OUTCOME and result.status == "opened":
        what += f" — {S47_OUTCOMES[str(pressed.args[1])].lower()}"
    await _opened(update, context, person, result, what)


async def _scope(context: BotContext, person: Person):
    """None: every team (a notification owner); else the teams they manage (maybe none)."""
    services = context.services
    if person.active and person.id in notification.owners(services):
        return None
    async with services.db.read() as s:
        return await services.access.managed_team_ids(s, person)


@linked
async def notifications_command(update: Update, context: BotContext, person: Person) -> None:
    services = context.services
    scope = await _scope(context, person)
    if scope is not None and not scope:
        await refuse(update, context, person, action="notification register",
                     why="not a notification owner or a team manager", text=NOT_A_MANAGER)
        return
    now = services.clock.now()
    async with services.db.read() as s:
        rows = await register.rows(s, services, start=now - timedelta(days=REGISTER_DAYS),
                                   teams=scope)
    await reply(update, register.telegram(rows, services.tz))


def _args(context: BotContext) -> list[str]:
    return list(context.args or [])


async def _opened(update: Update, context: BotContext, person: Person, result, what: str) -> None:
    services = context.services
    if result.status == "opened":
        services.wake_engine()
        names = ", ".join(notifiable.SHORT.get(r, r) for r in result.missing)
        await reply(update, f"📋 Recorded: {h(what)}. Notifiable to {h(names)}; reminders follow "
                            "until each is recorded.")
    elif result.status == "refused":
        await reply(update, nt.REFUSED)
    elif result.status == "already":
        await reply(update, f"That is already recorded ({hhmm(result.at, services.tz)}).")
    elif result.status == "bad_subject":
        await reply(update, "Name the person by a reference with a digit in it (for example "
                            "STAFF-0042), never by their name. Nothing was recorded.")
    elif result.status == "no_start":
        await reply(update, "Record the start first: the enquiry's outcome follows its start.")
    else:
        await reply(update, "No such report.")


@linked
async def s47_command(update: Update, context: BotContext, person: Person) -> None:
    args = _args(context)
    if len(args) < 2 or args[1].lower() not in ("started", "concluded"):
        await reply(update, S47_USAGE)
        return
    event = notifiable.S47_START if args[1].lower() == "started" else notifiable.S47_OUTCOME
    services = context.services
    async with services.db.write() as s:
        result = await notification.open_by_manager(
            s, services, person=person, event=event, incident_ref=args[0],
            note=" ".join(args[2:]) or None, telegram_user_id=update.effective_user.id)
    await _opened(update, context, person, result, notifiable.EVENT_LABELS[event])


@linked
async def dbs_command(update: Update, context: BotContext, person: Person) -> None:
    args = _args(context)
    if not args or len(args) > 2:
        await reply(update, DBS_USAGE)
        return
    services = context.services
    async with services.db.write() as s:
        result = await notification.open_by_manager(
            s, services, person=person, event=notifiable.DBS_REFERRAL, subject=args[0],
            incident_ref=args[1] if len(args) > 1 else None,
            telegram_user_id=update.effective_user.id)
    await _opened(update, context, person, result, notifiable.EVENT_LABELS[notifiable.DBS_REFERRAL])


@linked
async def not_notifiable_command(update: Update, context: BotContext, person: Person) -> None:
    args = _args(context)
    if len(args) < 2:
        await reply(update, NOT_NOTIFIABLE_USAGE)
        return
    services = context.services
    async with services.db.write() as s:
        ev = await notification.event_by_ref(s, args[0])
        if ev is None:
            result = None
        else:
            result = await notification.not_notifiable(
                s, services, event_id=ev.id, person=person, reason=" ".join(args[1:]),
                telegram_user_id=update.effective_user.id)
    if result is None or result.status == "not_found":
        await reply(update, "No open notifiable event on that report.")
    elif result.status == "refused":
        await reply(update, nt.REFUSED)
    elif result.status == "closed":
        services.wake_dispatcher()
        await reply(update, f"📋 Recorded: {h(args[0].upper())} is not notifiable, after review. "
                            "The reason is kept in the register and the log.")
    else:
        await reply(update, "That event is already closed.")
