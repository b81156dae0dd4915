"""The escalation engine: runs every due step of every incident once, on time or late but never lost.

The database is the source of truth. Each incident holds its next action on
two indexed clocks:

* ``next_step`` / ``next_due_at`` — the acknowledgement ladder (``step1`` …,
  ``repeat1`` …) until acknowledged, then the outcome clock (``outcome1``,
  ``outcome2``) until closed;
* ``notification_step`` / ``notification_next_at`` — reminders to the team
  manager about a notifiable event until the notification is recorded.

What follows each step is decided in :mod:`bot.escalation.policy` (pure); whom it
reaches in :mod:`bot.engine.targets`; what it says in
:mod:`bot.engine.texts`.

**Claiming.** A pass selects incidents whose due time has passed (an index
range scan: closed incidents have no due time and cost nothing), oldest first,
and runs one step per incident per transaction. The transaction re-reads the
row (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so a second engine skips rows
the first holds; SQLite has one writer at a time anyway), then advances the
clock with a conditional ``UPDATE … WHERE id AND step AND due`` whose row count
says who won, writes the ``escalation_actions`` row (unique per incident and
step: the idempotency key), the deliveries, the new recipients and the audit
events — all committed together or not at all. A step that lost the race
changes nothing.

**Waking.** python-telegram-bot's JobQueue only wakes the engine: a one-off job
at the earliest due time (re-armed after every pass, and :meth:`wake` after a
report or an acknowledgement) plus a periodic sweep every
``engine.sweep_interval_seconds`` as the safety net. The first sweep runs as
soon as the engine starts, so after a restart every overdue step runs at once,
in order. Messages of a step run more than ``engine.late_margin`` after it fell
due say how late they are.

**Watchdog.** After every pass, steps still due by more than the late margin
are logged as errors; :meth:`EscalationEngine.health` reports them for the
health check (it queries the database, so it also notices an engine that has
stopped sweeping).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit, logs
from bot.delivery.outbox import PRIORITY, RECEIPT_PRIORITY, enqueue
from bot.engine import event_reminders, statutory, targets, texts
from bot.escalation import policy as escalation
from bot.escalation.policy import LADDER, NOTIFICATION, OUTCOME, Next, StepKey
from bot.record import alerts, incidents, notification, notification_texts
from bot.rules.reasons import reason_label
from bot.rules.routing import OUT_OF_HOURS_URGENCIES
from storage import queries
from storage.models import EscalationAction, Incident, Person, Team

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

MAIN, NOTIFY = "main", "notify"  # the two clock columns of an incident
_COLUMNS = {
    MAIN: (Incident.next_step, Incident.next_due_at),
    NOTIFY: (Incident.notification_step, Incident.notification_next_at),
}


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


@dataclass(frozen=True)
class PendingStep:
    """The next action on one of an incident's clocks (for timelines and tests)."""

    clock: str  # acknowledgement | outcome | notification
    step: str
    due_at: datetime
    notify: str


def pending(incident: Incident) -> list[PendingStep]:
    """The next pending step of each running clock, earliest first."""
    out = []
    key = escalation.parse_key(incident.next_step)
    if key is not None and incident.next_due_at is not None:
        if key.clock == LADDER:
            notify = escalation.ladder_target(incident.plan or {}, key)
        else:
            notify = "holder" if escalation.outcome_to_holder(key) else "team_manager"
        out.append(PendingStep(key.clock, str(key), incident.next_due_at, notify))
    nkey = escalation.parse_key(incident.notification_step)
    if nkey is not None and incident.notification_next_at is not None:
        out.append(PendingStep(NOTIFICATION, str(nkey), incident.notification_next_at,
                               "team_manager"))
    return sorted(out, key=lambda p: p.due_at)



class EscalationEngine:
    """Runs due escalation steps; woken by the JobQueue, swept periodically, guarded by the database."""

    TIMER_JOB = "fosterbot-escalation-timer"
    WAKE_JOB = "fosterbot-escalation-wake"
    SWEEP_JOB = "fosterbot-escalation-sweep"

    def __init__(self, services: "Services", *, batch: int = 200) -> None:
        self.services = services
        self.batch = batch
        self._lock = asyncio.Lock()
        self._job_queue: Any = None
        self._wake_queued = False
        self._armed_at: datetime | None = None  # when the timer job will run a pass
        self.last_sweep_at: datetime | None = None
        self.started_at: datetime | None = None  # when this engine began to lead (health)
        self.fired_total = 0

    # -- lifecycle ----------------------------------------------------------------
    async def start(self, job_queue: Any) -> None:
        """Arm the periodic sweep (its first run is immediate: catch up after a restart)."""
        self._job_queue = job_queue
        self._wake_queued = False
        self._armed_at = None
        self.started_at = self.services.clock.now()
        interval = self.services.settings.engine.sweep_interval_seconds
        # (An interval job's "first=0" would be in the past by the time APScheduler computes
        # it and so first run one interval later: the catch-up is a one-off job instead.)
        job_queue.run_repeating(
            self._job, interval=interval, first=interval, name=self.SWEEP_JOB,
            job_kwargs={"misfire_grace_time": None, "coalesce": True},
        )
        self.wake()

    async def stop(self) -> None:
        jq, self._job_queue = self._job_queue, None
        if jq is not None:
            for name in (self.SWEEP_JOB, self.TIMER_JOB, self.WAKE_JOB):
                for job in jq.get_jobs_by_name(name):
                    job.schedule_removal()
        async with self._lock:  # let a pass in progress finish
            pass

    def wake(self) -> None:
        """Run a pass soon (after a commit that may have created an earlier due time).

        Wakes coalesce: while a woken pass is queued and has not started, a
        further wake adds nothing (that pass reads the database after the
        commit that caused it). A wake during a pass queues one more pass.
        """
        if self._job_queue is not None and not self._wake_queued:
            self._wake_queued = True
            self._job_queue.run_once(self._woken, 0, name=self.WAKE_JOB,
                                     job_kwargs={"misfire_grace_time": None})

    def due_at(self, times: Any) -> None:
        """A commit just set these due times (None ignored): make sure a pass runs by then.

        Cheaper than ``wake()`` when nothing is due yet: if no pass is running,
        the timer is only brought forward (no database pass now); a pass that
        is running may already have read the next due time from before the
        commit, so then (and for a time already due) it is a ``wake()``.
        """
        due = [t for t in times if t is not None]
        if not due or self._job_queue is None:
            return
        at = min(due)
        if self._lock.locked() or at <= self.services.clock.now():
            self.wake()
        elif self._armed_at is None or at < self._armed_at:
            self._arm(at)

    async def _woken(self, context: Any) -> None:
        self._wake_queued = False
        await self._job(context)

    async def _job(self, _context: Any) -> None:
        try:
            await self.run_due()
        except Exception:  # noqa: BLE001 - the scheduler must keep running; the sweep retries
            log.exception("escalation pass failed")

    def _arm(self, at: datetime | None) -> None:
        jq = self._job_queue
        if jq is None:
            return
        for job in jq.get_jobs_by_name(self.TIMER_JOB):
            job.schedule_removal()
        self._armed_at = at
        if at is None:
            return
        delay = max(0.0, (at - self.services.clock.now()).total_seconds())
        jq.run_once(self._job, delay, name=self.TIMER_JOB, job_kwargs={"misfire_grace_time": None})

    # -- passes -------------------------------------------------------------------
    async def run_due(self) -> int:
        """Run every step due now, oldest first; return how many ran here."""
        async with self._lock:
            fired, late = 0, []
            for _ in range(10_000):
                now = self.services.clock.now()
                due = await self._due(now)
                if not due:
                    break
                progressed = 0
                for _at, clock, incident_id in due:
                    try:
                        with logs.scope():  # log lines name the step's incident
                            outcome = await self._run_one(clock, incident_id)
                    except Exception:  # noqa: BLE001 - one bad incident must not stop the rest
                        log.exception("escalation step failed (incident %s, %s clock)",
                                      incident_id, clock)
                        continue
                    if outcome is not None:
                        self.services.metrics.step_fired(clock, outcome)
                        progressed += 1
                        if outcome > self.services.settings.engine.late_margin.amount:
                            late.append(outcome)
                fired += progressed
                if not progressed:
                    break  # what is left is held by another engine (or failing: logged)
            # The statutory-task clocks (bot/engine/statutory.py) ride on the same loop.
            tasks_fired = await statutory.run_due(self.services, batch=self.batch)
            self.services.metrics.steps_fired("statutory", tasks_fired)
            fired += tasks_fired
            # So do the reminders of notifiable events without a report (a DBS referral).
            reminders_fired = await event_reminders.run_due(self.services, batch=self.batch)
            self.services.metrics.steps_fired("event_reminder", reminders_fired)
            fired += reminders_fired
            self.last_sweep_at = self.services.clock.now()
            self.fired_total += fired
            if late:
                log.error("escalation: %d step(s) ran late, up to %s after they fell due "
                          "(was the service down?)", len(late), max(late))
            # One read transaction for the watchdog and the next due time.
            async with self.services.db.read() as s:
                await self._watchdog(s)
                self._arm(await self._next_due_in(s))
        if fired:
            self.services.wake_dispatcher()
        return fired

    async def _due(self, now: datetime) -> list[tuple[datetime, str, int]]:
        out: list[tuple[datetime, str, int]] = []
        async with self.services.db.read() as s:
            for clock, (_step, due_col) in _COLUMNS.items():
                rows = await s.execute(
                    select(due_col, Incident.id).where(due_col <= now)
                    .order_by(due_col, Incident.id).limit(self.batch)
                )
                out.extend((at, clock, iid) for at, iid in rows)
        out.sort()
        return out[: self.batch]

    async def next_due(self) -> datetime | None:
        # One min() per statement: SQLite answers a lone min() from the index, not two.
        async with self.services.db.read() as s:
            return await self._next_due_in(s)

    @staticmethod
    async def _next_due_in(s: AsyncSession) -> datetime | None:
        times = [t for _step, due_col in _COLUMNS.values()
                 if (t := (await s.execute(select(func.min(due_col)))).scalar()) is not None]
        if (t := await statutory.next_due(s)) is not None:
            times.append(t)
        if (t := await event_reminders.next_due(s)) is not None:
            times.append(t)
        return min(times) if times else None

    async def overdue(self, session: AsyncSession | None = None) -> tuple[int, datetime | None]:
        """Steps due more than the late margin ago: (how many, the oldest due time).
        In ``session`` if given, else in a read transaction of its own."""
        if session is None:
            async with self.services.db.read() as s:
                return await self.overdue(s)
        cutoff = self.services.clock.now() - self.services.settings.engine.late_margin.amount
        count, oldest = 0, None
        for _step, due_col in _COLUMNS.values():
            n, first = (await session.execute(
                select(func.count(), func.min(due_col)).where(due_col < cutoff)
            )).one()
            count += n
            if first is not None and (oldest is None or first < oldest):
                oldest = first
        return count, oldest

    async def _watchdog(self, session: AsyncSession | None = None) -> None:
        count, oldest = await self.overdue(session)
        if count:
            log.error("escalation watchdog: %d step(s) overdue by more than %s; oldest due %s",
                      count, self.services.settings.engine.late_margin, oldest.isoformat())

    async def health(self) -> dict[str, Any]:
        """For the health check: ``{"overdue_steps", "oldest_late_seconds", "last_sweep_at",
        "stale", "ok"}``. ``ok`` is false when a step is overdue by more than the late
        margin or no pass has completed within three sweep intervals (``stale``) — counted
        from when the engine started if none has completed yet, so the moment between an
        instance taking the lead and its first pass is not reported as a stall."""
        now = self.services.clock.now()
        count, oldest = await self.overdue()
        if count:
            log.error("health: %d escalation step(s) overdue", count)
        stale_after = timedelta(seconds=3 * self.services.settings.engine.sweep_interval_seconds)
        since = self.last_sweep_at or self.started_at
        fresh = since is not None and now - since <= stale_after
        return {
            "overdue_steps": count,
            "oldest_late_seconds": round((now - oldest).total_seconds(), 3) if oldest else 0.0,
            "last_sweep_at": self.last_sweep_at.isoformat() if self.last_sweep_at else None,
            "stale": not fresh,
            "ok": count == 0 and fresh,
        }

    # -- one step -----------------------------------------------------------------
    async def _run_one(self, clock: str, incident_id: int) -> timedelta | None:
        """Run the due step of one clock of one incident; its lateness, or None if
        there was nothing to do here (not due any more, or another engine has it)."""
        services = self.services
        step_col, due_col = _COLUMNS[clock]
        now = services.clock.now()
        async with services.db.write() as s:
            q = select(Incident).where(Incident.id == incident_id, due_col <= now)
            if services.db.is_postgres:
                q = q.with_for_update(skip_locked=True)
            inc = (await s.execute(q)).scalar_one_or_none()
            if inc is None:
                return None
            logs.set_incident(inc.reference)
            key_text = inc.next_step if clock == MAIN else inc.notification_step
            due = inc.next_due_at if clock == MAIN else inc.notification_next_at
            key = escalation.parse_key(key_text)
            step = _Step(self, s, inc, clock, key_text or "", due, now)
            if key is None or (key.clock == NOTIFICATION) != (clock == NOTIFY):
                log.error("incident %s has an unknown %s step %r: clock stopped",
                          inc.reference, clock, key_text)
                await step.stop("unknown step")
                return None
            if key.clock == LADDER:
                ran = await step.ladder(key)
            elif key.clock == OUTCOME:
                ran = await step.outcome(key)
            else:
                ran = await step.notification(key)
        return (now - due) if ran else None


class _Step:
    """One step being run inside one transaction."""

    def __init__(self, engine: EscalationEngine, session: AsyncSession, incident: Incident,
                 clock: str, key: str, due: datetime, now: datetime) -> None:
        self.engine = engine
        self.services = engine.services
        self.s = session
        self.inc = incident
        self.clock = clock
        self.key = key
        self.due = due
        self.now = now
        margin = self.services.settings.engine.late_margin.amount
        self.late = texts.late_note(now - due, margin)
        self.late_seconds = int((now - due).total_seconds())

    # -- claiming -----------------------------------------------------------------
    async def advance(self, nxt: Next, **extra: Any) -> bool:
        """Move the clock on if it still points at this step; True if we won the race."""
        step_col, due_col = _COLUMNS[self.clock]
        res = await self.s.execute(
            update(Incident)
            .where(Incident.id == self.inc.id, step_col == self.key, due_col == self.due)
            .values({step_col.key: nxt.key, due_col.key: nxt.due, "updated_at": self.now, **extra})
            .execution_options(synchronize_session=False)
        )
        return res.rowcount == 1

    async def claim(self, nxt: Next, **extra: Any) -> bool:
        """Advance the clock and record the step as run (once: the idempotency key)."""
        if not await self.advance(nxt, **extra):
            return False
        done = (await self.s.execute(
            select(EscalationAction.id).where(EscalationAction.incident_id == self.inc.id,
                                              EscalationAction.step_key == self.key)
        )).first()
        if done is not None:  # ran before (the clock was set back by hand): never twice
            log.warning("incident %s step %s already ran: skipped", self.inc.reference, self.key)
            return False
        self.s.add(EscalationAction(incident_id=self.inc.id, step_key=self.key, due_at=self.due,
                                    fired_at=self.now))
        await self.s.flush()
        return True

    async def stop(self, reason: str) -> None:
        if not await self.advance(Next(None, None)):
            return
        await audit.record(self.s, "escalation_stopped", at=self.now, incident_id=self.inc.id,
                           reason=reason, clock=self.clock, stopped_step=self.key,
                           stopped_due=_iso(self.due))

    # -- helpers ------------------------------------------------------------------
    async def team(self) -> Team:
        team = await self.s.get(Team, self.inc.team_id)
        assert team is not None
        return team

    async def missed(self, resolution: targets.Resolution, target: str) -> None:
        for pid, why in resolution.missed:
            await audit.record(self.s, "recipient_missed", at=self.now, incident_id=self.inc.id,
                               person=pid, why=why, step=self.key)
        if resolution.last_resort:
            log.warning("incident %s step %s: nobody in the chain could be reached; sent to the "
                        "last resort", self.inc.reference, self.key)
            await audit.record(self.s, "escalated_to_last_resort", at=self.now,
                               incident_id=self.inc.id, step=self.key, target=target,
                               to=[r.person.id for r in resolution.reached],
                               missed=[pid for pid, _why in resolution.missed])
        if not resolution.reached:
            log.error("incident %s step %s: nobody could be reached, not even the last resort "
                      "(escalation.last_resort = %r)", self.inc.reference, self.key,
                      self.services.settings.last_resort)
            await queries.mark_undelivered(self.s, self.inc.id, self.now)
            await audit.record(self.s, "escalation_unreachable", at=self.now,
                               incident_id=self.inc.id, step=self.key, target=target)

    def common(self, nxt: Next) -> dict[str, Any]:
        return {
            "step": self.key, "due": _iso(self.due), "late_seconds": max(0, self.late_seconds),
            "waited_seconds": int((self.now - self.inc.reported_at).total_seconds()),
            "covers_missed": nxt.covered, "next_step": nxt.key, "next_due": _iso(nxt.due),
            "policy": self.inc.policy_version,
        }

    # -- the acknowledgement ladder -------------------------------------------------
    async def ladder(self, key: StepKey) -> bool:

        services, inc = self.services, self.inc
        if inc.status != "open":  # closed without an acknowledgement: nothing to chase
            await self.stop(f"incident {inc.status}")
            return False
        plan = inc.plan or {}
        nxt = escalation.after_ladder_step(plan, services.calendar, key, self.due, self.now)
        level = key.number if key.kind == "step" else inc.escalation_level
        if not await self.claim(nxt, escalation_level=level):
            return False
        target = escalation.ladder_target(plan, key)
        team = await self.team()
        rows = await queries.recipients_of(self.s, inc.id)
        sc = await targets.scene(self.s, services, team, self.now)
        resolution = await targets.resolve(self.s, sc, inc, target, recipients=rows)
        if sc.out_of_hours and inc.urgency in OUT_OF_HOURS_URGENCIES and target != "edt" \
                and sc.team.edt_id:
            # Out of hours is judged when the step runs: the out-of-hours team is told too.
            ooh = await targets.resolve_chain(self.s, sc, sc.team.edt_id, "escalation:edt",
                                              name="edt")
            got = {r.person.id for r in resolution.reached}
            resolution.reached += [r for r in ooh.reached if r.person.id not in got]
            resolution.missed += [m for m in ooh.missed if m not in resolution.missed]
            resolution.last_resort = resolution.last_resort or ooh.last_resort
        carer = await self.s.get(Person, inc.reporter_id)
        known = {r.person_id for r in rows}
        holding = []
        if any(not r.holder for r in resolution.reached):  # named in escalation messages
            holding = [
                (p.name, reason_label(r.reason)) for r in rows
                if r.reason in targets.HOLDER_REASONS
                and (p := await self.s.get(Person, r.person_id)) is not None
            ]
        escalated_to = []
        for r in resolution.reached:
            await targets.add_recipient(self.s, inc.id, r.person.id, r.reason, self.now,
                                        known=known)
            if r.holder:
                kind = "reminder"
                text = texts.reminder(services, inc, carer, reason=reason_label(r.reason),
                                      now=self.now, late=self.late)
            else:
                kind = "escalation"
                escalated_to.append(r.person.name)
                text = texts.escalation(services, inc, carer, reason=reason_label(r.reason),
                                        now=self.now, late=self.late, holders=holding)
            await enqueue(
                self.s, key=f"esc:{inc.id}:{self.key}:{r.person.id}", kind=kind, now=self.now,
                person=r.person, incident_id=inc.id, priority=PRIORITY.get(inc.urgency, 3),
                text=text, buttons=await alerts.buttons_for(self.s, services, inc),
                silent=incidents.silent_out_of_hours(inc.urgency, sc.out_of_hours),
            )
        await self.missed(resolution, target)
        event = "reminded" if target == "recipients" and not resolution.fell_back \
            and all(r.holder for r in resolution.reached) else "escalated"
        await audit.record(
            self.s, event, at=self.now, incident_id=inc.id, target=target,
            to=[r.person.id for r in resolution.reached], level=level,
            out_of_hours=sc.out_of_hours, **self.common(nxt),
        )
        if escalated_to and key.kind == "step" and carer is not None:
            await enqueue(
                self.s, key=f"esc-carer:{inc.id}:{self.key}", kind="notice", now=self.now,
                person=carer, incident_id=inc.id, priority=RECEIPT_PRIORITY,
                text=texts.carer_escalated(inc, escalated_to),
            )
        return True

    # -- the outcome clock --------------------------------------------------------
    async def outcome(self, key: StepKey) -> bool:
        services, inc = self.services, self.inc
        if inc.status != "acknowledged":  # closed (outcome recorded) or reopened: clock ends
            await self.advance(Next(None, None))
            return False
        nxt = escalation.after_outcome_step(services.calendar, key, self.due,
                                            services.settings.engine.outcome_manager_after)
        if not await self.claim(nxt):
            return False
        team = await self.team()
        sc = await targets.scene(self.s, services, team, self.now)
        acker = await self.s.get(Person, inc.acknowledged_by_id) if inc.acknowledged_by_id else None
        holder_id = await targets.outcome_holder(self.s, inc)
        holder = await self.s.get(Person, holder_id) if holder_id else acker
        if escalation.outcome_to_holder(key):
            ids = [holder.id] if holder is not None else []
            resolution = await targets.resolve_holders(self.s, sc, ids)
        else:
            their_team = await self.s.get(Team, holder.team_id) if holder and holder.team_id else None
            manager_id = (their_team.manager_id if their_team and their_team.manager_id
                          else sc.team.manager_id)
            exclude = {holder.id} if holder is not None and holder.id != manager_id else set()
            resolution = await targets.resolve_chain(
                self.s, sc, manager_id, "escalation:team_manager", name="team_manager",
                exclude=exclude)
        for r in resolution.reached:
            to_manager = not escalation.outcome_to_holder(key)  # the holder was reminded before
            await enqueue(
                self.s, key=f"esc:{inc.id}:{self.key}:{r.person.id}", kind="outcome_reminder",
                now=self.now, person=r.person, incident_id=inc.id, priority=3,
                text=texts.outcome(services, inc, acker, holder=holder, to_manager=to_manager,
                                   now=self.now, late=self.late),
            )
        await self.missed(resolution, "holder" if escalation.outcome_to_holder(key)
                          else "team_manager")
        await audit.record(self.s, "outcome_reminded", at=self.now, incident_id=inc.id,
                           holder=holder.id if holder else None,
                           to=[r.person.id for r in resolution.reached], **self.common(nxt))
        return True

    # -- the notification clock ---------------------------------------------------
    async def notification(self, key: StepKey) -> bool:
        services, inc = self.services, self.inc
        owed = await notification.owed(self.s, inc.id)
        if inc.notified_at is not None or not owed:
            await self.advance(Next(None, None))
            return False
        nxt = escalation.after_notification_step(
            services.calendar, key, self.due, services.settings.notification.remind_every, self.now
        )
        if not await self.claim(nxt):
            return False
        team = await self.team()
        sc = await targets.scene(self.s, services, team, self.now)
        n = services.settings.notification
        # The registered manager (or deputy, out-of-hours owner, down the chain) owns it;
        # the child's team manager is told as well and may record it.
        owner = await targets.resolve_owner(self.s, services, sc, n.registered_manager,
                                            n.deputy, n.out_of_hours)
        manager = await targets.resolve_chain(self.s, sc, sc.team.manager_id, "notification",
                                              name="team_manager")
        resolution = targets.Resolution(
            reached=owner.reached + [r for r in manager.reached if r.person.id not in
                                     {o.person.id for o in owner.reached}],
            missed=owner.missed + [m for m in manager.missed if m not in owner.missed],
            fell_back=owner.fell_back, last_resort=owner.last_resort and manager.last_resort,
        )
        overdue = inc.notification_due_at is not None and self.now >= inc.notification_due_at
        text = notification_texts.reminder(services, inc, owed, now=self.now, late=self.late,
                                           category_label=texts.category_label(services, inc))
        for r in resolution.reached:
            # Whoever the chain reached stands in for the owner: they may record it.
            await targets.add_recipient(self.s, inc.id, r.person.id, "notification", self.now)
            await enqueue(
                self.s, key=f"esc:{inc.id}:{self.key}:{r.person.id}", kind="notification",
                now=self.now, person=r.person, incident_id=inc.id,
                priority=PRIORITY.get(inc.urgency, 3), text=text,
                buttons=notification_texts.buttons(owed),
            )
        await self.missed(resolution, "registered_manager")
        await audit.record(self.s, "notification_reminded", at=self.now, incident_id=inc.id,
                           to=[r.person.id for r in resolution.reached], overdue=overdue,
                           missing=[o.record.recipient for o in owed],
                           deadline=_iso(inc.notification_due_at), **self.common(nxt))
        return True
