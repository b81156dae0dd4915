"""*An incident*: the full record, its attachments, the thread and the whole timeline, and the
forms for what a manager does in the bot — acknowledge on behalf, record oversight, record a
notification per recipient, close with an outcome, reopen.

Who sees it is the bot's rule for "Show details" (``Access.may_view``: the reporter, those it
was sent to, the managers of the child's team, administrators); anyone else gets 403 and an
``access_refused`` event, and every view is a ``web_viewed`` event. Each form calls the
domain function the bot's handler calls, which checks the person's right again:
``incidents.acknowledge`` (the Acknowledge button), ``oversight.subject`` / ``parse`` /
``unknown_owners`` / ``record`` (what ``/oversee`` runs), ``notification.record_made`` /
``record_confirmed`` / ``record_not_required`` (the register's buttons and the CLI),
``thread.close`` and ``thread.reopen`` (the thread's outcome and reopen steps). So the
carer's and the workers' chats change exactly as if it had been done in the bot.

After a change the browser is sent back to the page (POST, redirect, GET) with a short code
saying what was done (no personal data in the URL); a form that cannot be accepted is shown
again with the reason and what was typed, status 400.

Real time: the page's live part (status, pending steps, thread, timeline) is fetched again
every ``[web] refresh_seconds`` by the console's small same-origin script (``?part=live``),
so a change made in the bot appears within seconds and nothing typed in a form is lost;
without JavaScript the *Refresh* link does the same.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from bot.record import incidents, notification, oversight, thread
from bot.record.prompt import Refused
from bot.rules import notifiable
from bot.rules.outcomes import OUTCOMES
from bot.rules.oversight import OversightError, parse
from bot.web import attachment_files, incident_view, kit
from storage import queries
from storage.models import Attachment, Incident

DONE = {
    "acknowledged": "Acknowledged. The carer has been told and every alert now shows it.",
    "oversight": "Management oversight recorded. Anyone waiting to close the report and "
                 "each action's owner have been told.",
    "notified": "Notification recorded.",
    "confirmed": "Written confirmation recorded.",
    "not_required": "Recorded as not required.",
    "closed": "Closed with its outcome. The carer has been told.",
    "held": "This report cannot be closed yet: it needs management oversight first. "
            "The team's managers have been asked.",
    "reopened": "Reopened. The carer has been told; a new outcome clock runs.",
}
MAX_TEXT = 4000


async def _named_incident(s: AsyncSession, request: web.Request) -> tuple[Incident | None, bool]:
    """The incident the URL's ``{ref}`` names (None if there is none) and whether the signed-in
    person may see it (``Access.may_view``, the bot's rule for "Show details")."""
    incident = await queries.incident_by_reference(s, request.match_info["ref"].strip().upper())
    allowed = incident is not None and await kit.services(request).access.may_view(
        s, kit.person(request), incident)
    return incident, allowed


IncidentHandler = Callable[[web.Request, Incident], Awaitable[web.StreamResponse]]


def _on_incident(path: str, *, name: str, action: str, method: str = "POST",
                 ) -> Callable[[IncidentHandler], kit.Handler]:
    """Register a page about the incident ``{ref}`` names (a form's POST, an attachment) that
    runs only for someone who may see that incident; anyone else gets the audited 403
    (``action`` in the ``access_refused`` event) and the handler never runs. The handler is
    given the incident."""

    def register(handler: IncidentHandler) -> kit.Handler:
        @functools.wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            async with kit.db_read(request) as s:
                incident, allowed = await _named_incident(s, request)
            if not allowed:
                return await _refused(request, action, incident)
            return await handler(request, incident)

        return kit.page(path, name=name, method=method)(checked)

    return register


async def _refused(request: web.Request, action: str, incident: Incident | None) -> web.Response:
    return await kit.refuse(
        request, action=action,
        why="no access to this incident" if incident is not None else "no such incident",
        incident_id=incident.id if incident is not None else None,
        text="You cannot see this report: it does not exist or it is not one you have "
             "access to.")


def _render(request: web.Request, view: incident_view.IncidentView, *, status: int = 200,
            error: str = "", form: dict | None = None) -> web.Response:
    """The page, or only its live part (``?part=live``) with its digest. The live part is
    rendered once and placed in the page as it is."""
    svc = kit.services(request)
    context = {"view": view, "tz": svc.tz, "refresh": svc.settings.web.refresh_seconds,
               "done": DONE.get(request.query.get("done", ""), ""), "error": error,
               "form": form or {}, "recipients": notifiable.RECIPIENTS}
    live, digest = kit.live_part(request, "incident_live.html", **context)
    if request.query.get("part") == "live":
        return live
    return kit.render(request, "incident.html", status=status, digest=digest,
                      # already rendered (and escaped) by the autoescaping template above
                      live_html=Markup(live.text),
                      title=f"{view.incident.reference} — {view.category}", **context)


async def _page(request: web.Request, incident: Incident, *, status: int = 200,
                error: str = "", form: dict | None = None) -> web.Response:
    svc = kit.services(request)
    async with kit.db_read(request) as s:
        incident = await s.get(Incident, incident.id)
        view = await incident_view.build(s, svc, kit.person(request), incident)
    return _render(request, view, status=status, error=error, form=form)


@kit.page("/incidents/{ref}", name="incident")
async def show(request: web.Request) -> web.Response:
    """One read for the access check and the whole page; then the view is recorded."""
    svc = kit.services(request)
    async with kit.db_read(request) as s:
        incident, allowed = await _named_incident(s, request)
        view = await incident_view.build(s, svc, kit.person(request), incident) if allowed \
            else None
    if view is None:
        return await _refused(request, "view incident", incident)
    if request.query.get("part") != "live":  # the page's own refreshes are not new views
        await kit.audit_view(request, what="incident", incident_id=incident.id)
    return _render(request, view)


def _back(request: web.Request, incident: Incident, done: str) -> web.HTTPSeeOther:
    svc = kit.services(request)
    svc.wake_dispatcher()  # the notices and edited alerts the change owes
    svc.wake_engine()
    url = request.app.router["incident"].url_for(ref=incident.reference).with_query(done=done)
    return web.HTTPSeeOther(str(url))


def _text(form, key: str) -> str:
    return str(form.get(key) or "").strip()[:MAX_TEXT]


@_on_incident("/incidents/{ref}/acknowledge", name="incident_acknowledge", action="acknowledge")
async def acknowledge(request: web.Request, incident: Incident) -> web.StreamResponse:
    svc = kit.services(request)
    async with kit.db_write(request) as s:
        result = await incidents.acknowledge(s, svc, incident_id=incident.id,
                                             person=kit.person(request))
    if result.status == "acknowledged":
        raise _back(request, incident, "acknowledged")
    if result.status == "already":
        at = svc.local(result.at).strftime("%H:%M") if result.at else "?"
        return await _page(request, incident, status=409,
                           error=f"Already acknowledged by {result.by_name} at {at}.")
    return await _page(request, incident, status=403,
                       error="You are not a recipient of this report, so you cannot "
                             "acknowledge it. Nothing was changed.")


def _entry_text(form) -> str:
    """The form's fields as the entry ``/oversee`` reads (``bot/rules/oversight.py``)."""
    lines = [f"Decision: {_text(form, 'decision')}", f"Rationale: {_text(form, 'rationale')}"]
    lines += [f"Action: {line.strip()}" for line in _text(form, "actions").splitlines()
              if line.strip()]
    return "\n".join(lines)


@_on_incident("/incidents/{ref}/oversight", name="incident_oversight", action="oversee")
async def record_oversight(request: web.Request, incident: Incident) -> web.StreamResponse:
    svc = kit.services(request)
    person = kit.person(request)
    form = await request.post()
    kept = {k: _text(form, k) for k in ("decision", "rationale", "actions")}
    try:
        entry = parse(_entry_text(form), svc.today())
    except OversightError as exc:
        return await _page(request, incident, status=400, error=f"{exc} Nothing was recorded.",
                           form=kept)
    try:
        async with kit.db_write(request) as s:
            subject, _child = await oversight.subject(s, svc, person, incident.reference)
            unknown = await oversight.unknown_owners(s, entry)
            if not unknown:
                await oversight.record(s, svc, person=person, entry=entry, incident=subject)
    except oversight.NotAllowed as exc:
        return await kit.refuse(request, action="oversee", why=exc.why,
                                incident_id=incident.id, text=exc.text)
    if unknown:
        return await _page(request, incident, status=400, form=kept,
                           error=f"There is no active person with the id “{unknown[0]}” to own "
                                 "an action. Nothing was recorded.")
    raise _back(request, incident, "oversight")


def _when(text: str, svc) -> datetime | None:
    """A ``datetime-local`` field (local time) in UTC; empty: None (now). Raises ValueError."""
    if not text:
        return None
    local = datetime.fromisoformat(text)
    if local.tzinfo is None:
        local = local.replace(tzinfo=svc.tz)
    return local.astimezone(UTC)


@_on_incident("/incidents/{ref}/notification", name="incident_notification", action="record notification")
async def record_notification(request: web.Request, incident: Incident) -> web.StreamResponse:
    svc = kit.services(request)
    person = kit.person(request)
    form = await request.post()
    what = _text(form, "what")
    try:
        record_id = int(_text(form, "record"))
    except ValueError:
        return await _page(request, incident, status=400, error="Choose a recipient.")
    try:
        at = _when(_text(form, "at"), svc)
    except ValueError:
        return await _page(request, incident, status=400,
                           error="The time is not a date and time. Nothing was recorded.")
    if at is not None and at > svc.clock.now():
        return await _page(request, incident, status=400,
                           error="A notification cannot be recorded in the future.")
    reference = _text(form, "reference")[:notification.MAX_REFERENCE] or None
    async with kit.db_write(request) as s:
        owed = {o.record.id for o in await notification.owed(s, incident.id)}
        if record_id not in owed:
            result = None
        elif what == "confirmed":
            result = await notification.record_confirmed(
                s, svc, record_id=record_id, person=person, reference=reference,
                confirmed_at=at)
        elif what == "not_required":
            reason = _text(form, "reason")
            if not reason:
                return await _page(request, incident, status=400,
                                   error="Say why this recipient is not required.")
            result = await notification.record_not_required(
                s, svc, record_id=record_id, person=person, reason=reason)
        else:
            result = await notification.record_made(
                s, svc, record_id=record_id, method=_text(form, "method"), person=person,
                reference=reference, made_at=at)
    if result is None or result.status == "not_found":
        return await _page(request, incident, status=400,
                           error="That recipient is not owed on this report.")
    if result.status == "recorded":
        raise _back(request, incident, "not_required" if what == "not_required" else "notified")
    if result.status == "confirmed":
        raise _back(request, incident, "confirmed")
    if result.status == "refused":
        return await kit.refuse(request, action="record notification",
                                why="not a notification owner or a manager of the team",
                                incident_id=incident.id)
    messages = {
        "already": f"Already recorded by {result.by_name}.",
        "bad_method": "Choose how the notification was made.",
        "no_confirmation_needed": "Only a notification made by phone needs a written "
                                  "confirmation.",
    }
    return await _page(request, incident, status=409 if result.status == "already" else 400,
                       error=messages.get(result.status, "Nothing was recorded."))


@_on_incident("/incidents/{ref}/close", name="incident_close", action="close")
async def close(request: web.Request, incident: Incident) -> web.StreamResponse:
    svc = kit.services(request)
    form = await request.post()
    code, note = _text(form, "outcome"), _text(form, "note")
    if code not in OUTCOMES or not note:
        return await _page(request, incident, status=400, form={"note": note, "outcome": code},
                           error="Choose the outcome and write a note about it.")
    try:
        async with kit.db_write(request) as s:
            row = await s.get(Incident, incident.id)
            await thread.close(s, svc, incident=row, person=kit.person(request), code=code,
                               text=note)
            closed = row.status == "closed" and row.closed_by_id == kit.person(request).id
    except Refused as exc:
        return await kit.refuse(request, action="close", why=exc.why, incident_id=incident.id,
                                text="You cannot close this report. Nothing was changed.")
    if not closed:  # held for oversight (the managers were asked), or closed meanwhile
        async with kit.db_read(request) as s:
            now_closed = (await s.get(Incident, incident.id)).status == "closed"
        if now_closed:
            return await _page(request, incident, status=409,
                               error="It was closed meanwhile by someone else.")
        raise _back(request, incident, "held")
    raise _back(request, incident, "closed")


@_on_incident("/incidents/{ref}/reopen", name="incident_reopen", action="reopen")
async def reopen(request: web.Request, incident: Incident) -> web.StreamResponse:
    svc = kit.services(request)
    form = await request.post()
    reason = _text(form, "reason")
    if not reason:
        return await _page(request, incident, status=400,
                           error="Say why the report is reopened.")
    try:
        async with kit.db_write(request) as s:
            row = await s.get(Incident, incident.id)
            was_closed = row.status == "closed"
            await thread.reopen(s, svc, incident=row, person=kit.person(request), reason=reason)
    except Refused as exc:
        return await kit.refuse(request, action="reopen", why=exc.why, incident_id=incident.id,
                                text="You cannot reopen this report. Nothing was changed.")
    if not was_closed:
        return await _page(request, incident, status=409, error="The report is not closed.")
    raise _back(request, incident, "reopened")


@_on_incident("/incidents/{ref}/files/{file}", name="incident_file", action="view attachment", method="GET")
async def attachment(request: web.Request, incident: Incident) -> web.StreamResponse:
    """One attachment, fetched through the bot and streamed (``bot/web/attachment_files.py``);
    seeing it is an audit event as "View attachments" is in the bot."""
    try:
        file_id = int(request.match_info["file"])
    except ValueError:
        raise web.HTTPNotFound() from None
    async with kit.db_read(request) as s:
        att = await s.get(Attachment, file_id)
    if att is None or att.incident_id != incident.id:
        raise web.HTTPNotFound()
    svc = kit.services(request)
    try:
        served = await attachment_files.open_file(svc.settings, att)
    except attachment_files.FileUnavailable as exc:
        kit.log.warning("attachment %s of %s not available: %s", att.id, incident.reference, exc)
        raise web.HTTPBadGateway(text="The file could not be fetched from Telegram just now. "
                                      "Try again in a minute.") from None
    await kit.audit_view(request, what="attachment", incident_id=incident.id, attachment=att.id)
    response = web.StreamResponse(headers={"Content-Type": served.content_type,
                                           "Content-Disposition": served.disposition})
    if served.size is not None:
        response.content_length = served.size
    await response.prepare(request)
    async for chunk in served.chunks:
        await response.write(chunk)
    await response.write_eof()
    return response
