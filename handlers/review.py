"""The managers' review in Telegram: /overdue, /open, /log, /stats, /export.

Thin: each handler checks access through ``services.access`` (a manager sees
the teams they manage; a refusal is answered politely and logged as an
``access_refused`` audit event), asks ``bot.review`` for the content, and sends it.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from pathlib import Path

from telegram import Update

from bot import callbacks
from bot.record import notification
from bot.review import export as review_export
from bot.review import lists, needs, render, stats, timeline
from bot.review.chart import render_png
from bot.review.periods import PeriodError, parse_period
from bot.texts import h
from handlers.common import BotContext, linked, pressed_button, refuse, reply, show
from storage import queries
from storage.models import Incident, Person

NOT_A_MANAGER = ("This is for team managers, and shows only the teams they manage. "
                 "/help shows what you can do.")
NOT_YOURS = ("I cannot show you that report: it does not exist or does not belong to a team "
             "you manage.")
LOG_USAGE = "Send /log followed by a report reference, for example: /log INC-2026-000123"
NOTIFICATION_OWNER_LABEL = "the fostering service's notifications"
REFERENCE = re.compile(r"^INC-\d{4}-\d{6}$")
MAX_UPLOAD = 50 * 1000 * 1000  # the Bot API's limit for files a bot sends


async def _scope(context: BotContext, person: Person):
    services = context.services
    async with services.db.read() as s:
        scope = await services.access.managed_team_ids(s, person)
        label = await lists.team_label(s, scope) if scope else ""
    return scope, label


@linked
async def overdue_command(update: Update, context: BotContext, person: Person) -> None:
    """Reports late on any clock (acknowledgement, outcome, notification, undelivered),
    most overdue first, with buttons; then overdue notifications without a report (DBS
    referrals), also for the notification owners and administrators."""
    services = context.services
    scope, label = await _scope(context, person)
    async with services.db.read() as s:
        events = await services.access.event_scope(s, person, notification.owners(services))
    if not scope and events is not None and not events:
        await refuse(update, context, person, action="overdue", why="manages no team",
                     text=NOT_A_MANAGER)
        return
    async with services.db.read() as s:
        result = await needs.needs_action(
            s, scope, services.clock.now(), events=events,
            owner_id=services.settings.notification.registered_manager)
    label = label or NOTIFICATION_OWNER_LABEL
    for text, buttons in render.overdue_messages(services, result, label):
        await reply(update, text, buttons)


@linked
async def open_command(update: Update, context: BotContext, person: Person) -> None:
    """Managers: open reports in their teams by worker. Social workers: their own open items."""
    services = context.services
    now = services.clock.now()
    scope, label = await _scope(context, person)
    async with services.db.read() as s:
        if scope:
            texts = render.open_groups_messages(
                services, await lists.open_by_worker(s, scope), label, now)
        elif await services.access.is_worker(s, person):
            texts = render.own_open_messages(services, await lists.open_for_person(s, person), now)
        else:
            texts = None
    if texts is None:
        await refuse(update, context, person, action="open", why="not a worker or manager",
                     text="/open is for social workers and managers. "
                          "/myreports shows your own reports.")
        return
    for text in texts:
        await reply(update, text)


async def _timeline_page(context: BotContext, person: Person, incident: Incident | None,
                         page: int) -> tuple[str, list] | None:
    """The page to show, or None when this person may not see the incident."""
    services = context.services
    async with services.db.read() as s:
        if incident is None or not await services.access.may_review_incident(s, person, incident):
            return None
        tl = await timeline.build(s, services, incident)
    pages = timeline.pages(tl, services.tz)
    page = min(max(page, 1), len(pages))
    return pages[page - 1], render.timeline_buttons(incident.id, page, len(pages))


@linked
async def log_command(update: Update, context: BotContext, person: Person) -> None:
    """/log INC-…: the incident's full timeline, paged."""
    services = context.services
    ref = (context.args[0].strip().upper() if context.args else "")
    if not REFERENCE.match(ref):
        await reply(update, h(LOG_USAGE))
        return
    async with services.db.read() as s:
        incident = await queries.incident_by_reference(s, ref)
    shown = await _timeline_page(context, person, incident, 1)
    if shown is None:
        await refuse(update, context, person, action="log",
                     why="not a manager of the report's team" if incident else "no such incident",
                     text=NOT_YOURS, incident_id=incident.id if incident else None)
        return
    await reply(update, *shown)


@linked
async def log_button(update: Update, context: BotContext, person: Person) -> None:
    """Buttons "Timeline" (``log:<id>``, a new message) and page turns (``logp:<id>:<page>``)."""
    services = context.services
    query = update.callback_query
    pressed = await pressed_button(update, context, person, *callbacks.TIMELINE,
                                   action="log button")
    if pressed is None:
        return
    incident_id = pressed.args[0]
    page = pressed.args[1] if pressed.action is callbacks.LOG_PAGE else 1
    async with services.db.read() as s:
        incident = await s.get(Incident, incident_id)
    shown = await _timeline_page(context, person, incident, page)
    if shown is None:
        await refuse(update, context, person, action="log button",
                     why="not a manager of the report's team" if incident else "no such incident",
                     text=NOT_YOURS, incident_id=incident.id if incident else None)
        return
    await query.answer()
    if pressed.action is callbacks.LOG:
        await reply(update, *shown)
    else:
        await show(update, *shown)


async def scope_and_period(update: Update, context: BotContext, person: Person, action: str):
    """The teams this manager may review and the period asked for, or None (answered)."""
    services = context.services
    scope, label = await _scope(context, person)
    if not scope:
        await refuse(update, context, person, action=action, why="manages no team",
                     text=NOT_A_MANAGER)
        return None
    try:
        period = parse_period(context.args or [], services.clock.now(), services.tz)
    except PeriodError as exc:
        await reply(update, h(str(exc)))
        return None
    return scope, label, period


@linked
async def stats_command(update: Update, context: BotContext, person: Person) -> None:
    """/stats [period]: counts, time to acknowledge, breaches, notifications, and a chart."""
    services = context.services
    asked = await scope_and_period(update, context, person, "stats")
    if asked is None:
        return
    scope, _label, period = asked
    async with services.db.read() as s:
        st = await stats.compute(s, services, scope, period)
    for text in render.stats_messages(services, st):
        await reply(update, text)
    png = await asyncio.to_thread(render_png, st)
    await update.effective_chat.send_photo(
        photo=png, filename="time-to-acknowledge.png",
        caption="Time to acknowledge per week (median and 90th percentile, minutes).")


@linked
async def export_command(update: Update, context: BotContext, person: Person) -> None:
    """/export [from] [to]: CSV files of reports and audit events, and the audit chain head."""
    services = context.services
    asked = await scope_and_period(update, context, person, "export")
    if asked is None:
        return
    scope, label, period = asked
    await reply(update, render.export_preparing(label, period.label))
    out_dir = Path(tempfile.mkdtemp(prefix="fosterbot-export-"))
    try:
        result = await review_export.export(
            services.db, services.settings, period=period, scope=scope, out_dir=out_dir,
            now=services.clock.now(), actor_id=person.id,
            telegram_user_id=update.effective_user.id if update.effective_user else None,
        )
        chat = update.effective_chat
        inc_path, aud_path, head_path = result.files
        head = result.head
        too_big = [f.name for f in (inc_path, aud_path) if f.stat().st_size > MAX_UPLOAD]
        if too_big:
            await reply(update, render.export_too_big(too_big))
            return
        await chat.send_document(document=inc_path, filename=inc_path.name,
                                 caption=f"Reports: {result.incidents}")
        await chat.send_document(document=aud_path, filename=aud_path.name,
                                 caption=f"Audit events: {result.events}")
        await chat.send_document(
            document=head_path, filename=head_path.name,
            caption=f"Audit chain head: event {head['last_event_id']}, hash {head['last_hash']}")
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    await reply(update, render.export_ready(result.incidents, result.events, period.label))



