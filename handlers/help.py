"""/help and /guidance: what the bot does for your role, and how to use it well."""

from __future__ import annotations

from telegram import Update

from bot.rules.roles import ADMIN, CARER, TEAM_MANAGER, WORKER_ROLES
from bot.texts import emergency_lines
from handlers.common import BotContext, linked, reply
from storage import queries
from storage.models import Person


def help_text(roles: frozenset[str], services) -> str:
    s = services.settings.service
    parts = []
    if CARER in roles:
        parts.append(
            "<b>As a foster carer</b>\n"
            "/report — report an incident about a child placed with you\n"
            "/myreports — your recent reports and whether they were acknowledged\n"
            "/cancel — stop what you are doing (a report in progress is kept)\n"
            "You can also just type: I will offer to report what you wrote, or to add it to one "
            "of your open reports.\n"
            "Photos, voice notes, video notes and documents can be sent during a report, or "
            "added later with “Add more” on your receipt or in /myreports. A mistake is put "
            "right with “Correct something”: the correction sits next to your original."
        )
    if WORKER_ROLES & roles:
        parts.append(
            "<b>Receiving alerts</b>\n"
            "Alerts arrive here with an Acknowledge button: tap it as soon as you have read one, "
            "so the carer knows and nobody else is chased. “Reply to carer” sends the carer a "
            "message on the report's record; “Close with outcome” records the outcome and "
            "closes it (a closed report can be reopened, with a reason). “View attachments” "
            "and “Show details” / “Full record” show the whole report.\n"
            "/open — reports you hold that are not closed\n"
            "/child REF [kind] — a child's chronology (children allocated to you or whose "
            "carer you supervise)\n"
            "/away UNTIL [COVER] — your alerts go to your cover while you are away; /back ends it\n"
            "/oncall — who is on duty and out of hours for your team, now and next\n"
            "/swap PERSON DATE [THEIR_DATE] — swap an on-call shift with another rota member\n"
            "/tasks — your statutory tasks (needs assessments, visits, checklists), with Done\n"
            "/visit — record a placement visit, step by step with buttons (or in one go: "
            "/visit CHILD DATE alone|not-alone note)"
        )
    if TEAM_MANAGER in roles:
        parts.append(
            "<b>As a team manager</b>\nYou receive escalations for your team's reports.\n"
            "/overdue — what needs action: reports late on any clock, overdue oversight "
            "actions and Schedule 7 notifications without a report (a DBS referral), most "
            "overdue first\n"
            "/open — open reports in your teams, by worker\n"
            "/log INC-… — the full timeline of one report\n"
            "/child REF [kind] — the chronology of a child in your teams\n"
            "/stats [7d | 30d | 2026-11] — reports, time to acknowledge, breaches, notifications\n"
            "/export [from] [to] — CSV files of reports and audit events\n"
            "/compliance [7d | 30d | 2026-11] — statutory tasks on time and missed, by team\n"
            "/notifications — the Schedule 7 notification register; /s47 INC-… started | "
            "concluded (or the report's Close menu), /dbsreferral REF [INC-…], "
            "/notnotifiable INC-… reason"
        )
    if ADMIN in roles:
        parts.append("<b>As an administrator</b>\nManage the directory and invites from the "
                     "command line (fosterbot directory import, fosterbot invite).")
    if services.settings.web.enabled and (ADMIN in roles or WORKER_ROLES & roles):
        parts.append("/web — a link that signs you in to the web console (once, for "
                     f"{int(services.settings.web.link_ttl.amount.total_seconds() // 60)} "
                     "minutes)")
    parts.append("/guidance — how to report well\n/help — this message")
    parts.append(emergency_lines(s.out_of_hours_phone, s.duty_phone))
    return "\n\n".join(parts)


GUIDANCE = (
    "<b>Reporting well</b>\n"
    "• Report as soon as you safely can: the bot adds to a phone call in an emergency, it never "
    "replaces one.\n"
    "• Say what happened, when and where, who was present, the child's own words, what you did, "
    "and the child's views.\n"
    "• Keep facts and your opinion apart.\n"
    "• Children are named by their reference (for example A1), never by name.\n"
    "• Every report is recorded; you will be told when it is acknowledged."
)


@linked
async def help_command(update: Update, context: BotContext, person: Person) -> None:
    """Explain what the bot does for this person's roles."""
    async with context.services.db.read() as s:
        roles = await queries.roles_of(s, person.id)
    await reply(update, help_text(roles, context.services))


@linked
async def guidance_command(update: Update, context: BotContext, person: Person) -> None:
    """The communication guidance."""
    s = context.services.settings.service
    await reply(update, GUIDANCE + "\n\n" + emergency_lines(s.out_of_hours_phone, s.duty_phone))
