"""The database schema: the directory, incidents, the outbox and the audit log.

Every timestamp is stored in UTC (``UTCDateTime`` refuses naive values and
always hands back aware ones, on SQLite as on PostgreSQL). Relationships are
never lazy-loaded (``lazy="raise"``): async code must say what it loads.

The schema is created and changed only by Alembic migrations
(``storage/migrations``); ``metadata.create_all`` is for model tests alone.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    case,
    text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.expression import FunctionElement

from storage.crypto import EncryptedJSON, EncryptedText

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store aware UTC datetimes only")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


# --------------------------------------------------------------------------
# Directory
# --------------------------------------------------------------------------


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Person ids; checked by the directory import (no FK: people refer to teams too).
    manager_id: Mapped[str | None] = mapped_column(String(64))
    duty_id: Mapped[str | None] = mapped_column(String(64))
    edt_id: Mapped[str | None] = mapped_column(String(64))
    service_manager_id: Mapped[str | None] = mapped_column(String(64))
    # Stands in for the team manager when they (and their cover) cannot be reached.
    deputy_id: Mapped[str | None] = mapped_column(String(64))


class Rota(Base):
    """An on-call rota (duty or out of hours): members take shifts in turn.

    A team's ``duty_id`` / ``edt_id`` may name a rota instead of a person; who is
    on call is worked out when needed (``bot.rules.rotas``)."""

    __tablename__ = "rotas"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    members: Mapped[list[Any]] = mapped_column(JSON)  # person ids, in turn order
    shift: Mapped[str] = mapped_column(String(8))  # day | week
    handover_time: Mapped[str] = mapped_column(String(5))  # HH:MM, Europe/London
    handover_weekday: Mapped[int | None] = mapped_column(Integer)  # 0 = Monday (weekly rotas)
    start_date: Mapped[date] = mapped_column(Date)  # the first member's first shift begins


class RotaOverride(Base):
    """One-off: ``person_id`` is on call for ``rota_id`` from ``starts_at`` to ``ends_at``."""

    __tablename__ = "rota_overrides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rota_id: Mapped[str] = mapped_column(ForeignKey("rotas.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(16))  # directory | swap
    created_by_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]


class Person(Base):
    __tablename__ = "people"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id"))
    phone: Mapped[str | None] = mapped_column(String(64))
    cover_id: Mapped[str | None] = mapped_column(String(64))
    away_until: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    supervising_social_worker_id: Mapped[str | None] = mapped_column(String(64))
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    linked_at: Mapped[datetime | None]
    # Set when Telegram says the chat cannot be reached (blocked, deactivated).
    unreachable_since: Mapped[datetime | None]
    unreachable_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PersonRole(Base):
    __tablename__ = "person_roles"

    person_id: Mapped[str] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(32), primary_key=True)


class Child(Base):
    __tablename__ = "children"

    ref: Mapped[str] = mapped_column(String(32), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"))
    allocated_social_worker_id: Mapped[str | None] = mapped_column(ForeignKey("people.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Statutory clocks (bot/people/statutory.py): the day the child entered care.
    entered_care: Mapped[date | None] = mapped_column(Date)
    removed_at_birth: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class Placement(Base):
    """One carer caring for one child over a date range (one row per carer)."""

    __tablename__ = "placements"
    __table_args__ = (UniqueConstraint("child_ref", "carer_id", "start_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    child_ref: Mapped[str] = mapped_column(ForeignKey("children.ref"), index=True)
    carer_id: Mapped[str] = mapped_column(ForeignKey("people.id"), index=True)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    long_term: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class Task(Base):
    """A statutory task on a child with its own clock (bot/people/statutory.py creates them,
    bot/engine/statutory.py reminds and escalates, bot/record/tasks.py records them done).

    ``step`` counts the reminders sent; ``next_at`` is when the next falls due (null once
    done). ``key`` makes creation idempotent (e.g. ``needs_assessment``)."""

    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("child_ref", "key"),
        Index("ix_tasks_next_at", "next_at"),
        Index("ix_tasks_team_due", "team_id", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    child_ref: Mapped[str] = mapped_column(ForeignKey("children.ref"))
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"))
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime]
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("people.id"), index=True)
    step: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    done_by_id: Mapped[str | None] = mapped_column(ForeignKey("people.id"))
    note: Mapped[str | None] = mapped_column(Text)
    # What the kind records beside the note (a visit: its date and whether the child was
    # seen alone).
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Set when the task stopped being owed (the child left care, the placement ended before
    # it fell due): no more reminders, and it is neither met nor missed.
    closed_reason: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]


class ChildEvent(Base):
    """A dated event in one child's chronology that belongs to no incident: an allocation
    change, a placement removed from the directory, an oversight entry on the child. Each is
    written with the audit event that records it (``audit_event_id``), in one transaction;
    this table is the chronology's index by child (``bot/review/chronology.py``)."""

    __tablename__ = "child_events"
    __table_args__ = (Index("ix_child_events_child_at", "child_ref", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    child_ref: Mapped[str] = mapped_column(ForeignKey("children.ref"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    audit_event_id: Mapped[int] = mapped_column(ForeignKey("audit_events.id"))


class Invite(Base):
    """A single-use invite code; only its SHA-256 is stored."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by_telegram_user_id: Mapped[int | None] = mapped_column(BigInteger)
    revoked_at: Mapped[datetime | None]
    # Issued with ``fosterbot invite --replace``: may replace a linked account without its consent.
    replaces_account: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class RelinkRequest(Base):
    """A code redeemed for a person who already has an account: waits for that account's Yes."""

    __tablename__ = "relink_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id"), index=True)
    invite_id: Mapped[int] = mapped_column(ForeignKey("invites.id"))
    old_telegram_user_id: Mapped[int] = mapped_column(BigInteger)
    new_telegram_user_id: Mapped[int] = mapped_column(BigInteger)
    new_chat_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decision: Mapped[str | None] = mapped_column(String(16))  # confirmed | refused


class StartAttempt(Base):
    """Failed invite-code attempts per Telegram account, for slowing guessers down."""

    __tablename__ = "start_attempts"

    telegram_user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    # Lockouts so far: each lasts twice as long as the one before (bot/people/invites.py).
    lockouts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class StrangerWindow(Base):
    """The quiet window of a Telegram account not linked to anyone (bot/people/limits.py): when
    it was last answered, and the attempts counted since; shared by every instance of the bot
    and kept over a restart."""

    __tablename__ = "stranger_windows"

    telegram_user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    count: Mapped[int] = mapped_column(Integer, default=0)  # attempts not answered in it
    previous: Mapped[int] = mapped_column(Integer, default=0)  # ... in the window before


# --------------------------------------------------------------------------
# Incidents
# --------------------------------------------------------------------------


class IncidentCounter(Base):
    """Last incident number issued per year (INC-YYYY-NNNNNN)."""

    __tablename__ = "incident_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_next_due", "next_due_at"),
        Index("ix_incidents_status_reported", "status", "reported_at"),
        Index("ix_incidents_notification_next", "notification_next_at"),
        # The needs-action list (bot/review/needs.py): one range scan per clock, the team
        # last so that a manager's scope is checked in the index (no table lookups).
        Index("ix_incidents_status_ack_due", "status", "ack_due_at", "team_id"),
        Index("ix_incidents_status_outcome_due", "status", "outcome_due_at", "team_id"),
        # Only the notifications still to record (a partial index: the planners cannot tell
        # from column statistics that recorded ones are the ones with a deadline).
        Index("ix_incidents_notified_due", "notification_due_at", "team_id",
              sqlite_where=text("notified_at IS NULL AND notification_due_at IS NOT NULL"),
              postgresql_where=text("notified_at IS NULL AND notification_due_at IS NOT NULL")),
        Index("ix_incidents_status_undelivered", "status", "undelivered_since", "team_id"),
        Index("ix_incidents_child_reported", "child_ref", "reported_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    # Indexed by ix_incidents_child_reported (child_ref, reported_at), which serves both.
    child_ref: Mapped[str] = mapped_column(ForeignKey("children.ref"))
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), index=True)
    reporter_id: Mapped[str] = mapped_column(ForeignKey("people.id"), index=True)
    category: Mapped[str] = mapped_column(String(64))
    urgency: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime | None]
    reported_at: Mapped[datetime]
    description: Mapped[str] = mapped_column(EncryptedText("incidents.description"))
    # The record fields practice expects (bot/record/render.py lists them); null when not given.
    details: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON("incidents.details"),
                                                    default=dict)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open|acknowledged|closed
    acknowledged_by_id: Mapped[str | None] = mapped_column(ForeignKey("people.id"))
    acknowledged_at: Mapped[datetime | None]
    acknowledged_on_behalf_of_id: Mapped[str | None] = mapped_column(String(64))
    closed_by_id: Mapped[str | None] = mapped_column(ForeignKey("people.id"))
    closed_at: Mapped[datetime | None]
    outcome_code: Mapped[str | None] = mapped_column(String(32))
    outcome_text: Mapped[str | None] = mapped_column(EncryptedText("incidents.outcome_text"))
    out_of_hours: Mapped[bool] = mapped_column(Boolean, default=False)
    # Escalation: the plan frozen at report time, the step reached, the next due action.
    policy_version: Mapped[str | None] = mapped_column(String(64))
    plan: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    next_step: Mapped[str | None] = mapped_column(String(64))
    next_due_at: Mapped[datetime | None]
    # Deadlines that do not move when the engine acts (the needs-action list counts
    # lateness from them): the plan's first step, the outcome deadline set on
    # acknowledgement, and the first time a message about it reached nobody.
    ack_due_at: Mapped[datetime | None]
    outcome_due_at: Mapped[datetime | None]
    undelivered_since: Mapped[datetime | None]
    # Notifiable events (Fostering Services Regulations 2011, reg. 36).
    notifiable: Mapped[bool] = mapped_column(Boolean, default=False)
    notification_due_at: Mapped[datetime | None]
    notified_at: Mapped[datetime | None]
    notified_by_id: Mapped[str | None] = mapped_column(ForeignKey("people.id"))
    # The notification clock's next reminder: indexed like next_due_at,
    # cleared when the notification is recorded.
    notification_step: Mapped[str | None] = mapped_column(String(64))
    notification_next_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    # Set when retention removed the record's free text (a tombstone: bot/record/retention.py).
    purged_at: Mapped[datetime | None]
    # Digest of the record as the audit chain last vouched for it (storage/content.py).
    content_hash: Mapped[str | None] = mapped_column(String(64))


# ---- the clocks a report can be late on (the one statement of the rules) -------------------
#
# Per clock: the deadline column and when that clock runs. A report is late on a clock when
# the clock runs and its deadline has passed (``bot/review/needs.py`` adds the comparison
# with now); ``late_from`` is the earliest deadline of the clocks that run — the moment the
# report became (or will become) late, kept by the database itself whenever any of these
# columns changes, so every writer (the ORM, bulk updates, the engines) keeps it right.
_c = Incident.__table__.c
LATE_CLOCKS = {
    "acknowledgement": (_c.ack_due_at, _c.status == "open"),
    "outcome": (_c.outcome_due_at, _c.status == "acknowledged"),
    "notification": (_c.notification_due_at, _c.notified_at.is_(None)),
    "undelivered": (_c.undelivered_since, _c.status.in_(("open", "acknowledged"))),
}


class earliest(FunctionElement):
    """The earliest of some datetimes, NULLs ignored (NULL when all are): PostgreSQL's
    LEAST; SQLite's many-argument min, which NULLs would make NULL, over a far sentinel."""

    inherit_cache = True
    name = "earliest"

    @property
    def type(self):  # the type of its arguments
        return self.clauses.clauses[0].type


_FAR = "'9999-12-31 23:59:59.999999'"  # after any date SQLite stores (the same text form)


@compiles(earliest)
def _least(element, compiler, **kw):
    return f"LEAST({compiler.process(element.clauses, **kw)})"


@compiles(earliest, "sqlite")
def _sqlite_min(element, compiler, **kw):
    parts = ", ".join(f"coalesce({compiler.process(c, **kw)}, {_FAR})" for c in element.clauses)
    return f"nullif(min({parts}), {_FAR})"


LATE_FROM_SQL = earliest(*(case((runs, deadline)) for deadline, runs in LATE_CLOCKS.values()))
# Migration 0019_needs_late_from: a generated column (stored on PostgreSQL, virtual on SQLite,
# which can add only those to a table), indexed for the late ones only.
Incident.late_from = mapped_column(UTCDateTime, Computed(LATE_FROM_SQL, persisted=True))
Index("ix_incidents_late_from", Incident.__table__.c.late_from, Incident.__table__.c.team_id,
      sqlite_where=text("late_from IS NOT NULL"), postgresql_where=text("late_from IS NOT NULL"))
del _c


class IncidentRecipient(Base):
    """Who holds an incident and why (allocated, cover, duty, edt, copy, escalation)."""

    __tablename__ = "incident_recipients"
    __table_args__ = (UniqueConstraint("incident_id", "person_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id"), index=True)
    reason: Mapped[str] = mapped_column(String(64))
    # True for those who hold it (may acknowledge); False for copies for information.
    can_acknowledge: Mapped[bool] = mapped_column(Boolean, default=True)
    added_at: Mapped[datetime]


class IncidentMessage(Base):
    """A follow-up, reply, correction or note on an incident's thread."""

    __tablename__ = "incident_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    author_id: Mapped[str] = mapped_column(ForeignKey("people.id"))
    kind: Mapped[str] = mapped_column(String(32))  # followup|reply|correction|reopen
    text: Mapped[str] = mapped_column(EncryptedText("incident_messages.text"), default="")
    created_at: Mapped[datetime]
    # Digest the audit chain vouches for (storage/content.py); set by the event that adds it.
    content_hash: Mapped[str | None] = mapped_column(String(64))


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    draft_id: Mapped[int | None] = mapped_column(Integer, index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("incident_messages.id"))
    uploaded_by_id: Mapped[str] = mapped_column(ForeignKey("people.id"))
    kind: Mapped[str] = mapped_column(String(16))  # photo|voice|video_note|document|video
    file_id: Mapped[str] = mapped_column(String(255))
    file_unique_id: Mapped[str] = mapped_column(String(255))
    file_name: Mapped[str | None] = mapped_column(String(255))
    local_path: Mapped[str | None] = mapped_column(String(1024))
    sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]


class Draft(Base):
    """A report being written; survives restarts (the conversation is rebuilt from it)."""

    __tablename__ = "drafts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    carer_id: Mapped[str] = mapped_column(ForeignKey("people.id"), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    step: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON("drafts.data"), default=dict)
    created_at: Mapped[datetime]
    last_activity_at: Mapped[datetime]
    reminded_at: Mapped[datetime | None]
    submitted_incident_id: Mapped[int | None] = mapped_column(Integer)
    discarded_at: Mapped[datetime | None]


class EscalationAction(Base):
    """One escalation step that ran; (incident, step_key) is its idempotency key."""

    __tablename__ = "escalation_actions"
    __table_args__ = (UniqueConstraint("incident_id", "step_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    step_key: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime]
    fired_at: Mapped[datetime]


# --------------------------------------------------------------------------
# Delivery (outbox)
# --------------------------------------------------------------------------


class Delivery(Base):
    """A message the bot owes someone, written with the change that caused it."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_due", "status", "priority", "next_attempt_at"),
        # The handed-over replies still waiting, per chat (bot/delivery/handoff.py).
        Index("ix_deliveries_handoff_pending", "chat_id", "next_attempt_at",
              sqlite_where=text("kind = 'handler_reply' AND status = 'pending'"),
              postgresql_where=text("kind = 'handler_reply' AND status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    person_id: Mapped[str | None] = mapped_column(ForeignKey("people.id"), index=True)
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))  # alert|copy|receipt|notice|edit|reminder|escalation|...
    method: Mapped[str] = mapped_column(String(32), default="send")  # send|edit|document
    payload: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON("deliveries.payload"),
                                                    default=dict)
    # For edits: the delivery whose message is edited.
    target_delivery_id: Mapped[int | None] = mapped_column(Integer)
    priority: Mapped[int] = mapped_column(Integer, default=5)  # 0 most urgent
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|sent|failed|cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    # The sender instance holding the lease (SenderInstance.id): a restarted sender
    # reclaims the leases of its dead predecessor at once (bot/delivery/leases.py).
    lease_owner: Mapped[str | None] = mapped_column(String(32), index=True)
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class SenderInstance(Base):
    """A running sender process: its leases are reclaimed at once when it is found dead."""

    __tablename__ = "sender_instances"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    seen_at: Mapped[datetime]


class SendBucket(Base):
    """A token bucket of Telegram's flood limits shared by every instance on PostgreSQL
    (``storage/send_budget.py``): ``global`` and one per chat (``chat:<id>``)."""

    __tablename__ = "send_buckets"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime]


class ProcessedUpdate(Base):
    """Telegram update ids already handled, so a redelivered update changes nothing."""

    __tablename__ = "processed_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class DigestDay(Base):
    """The local days on which the managers' morning digest was sent (once a day, even
    across restarts and several processes: the insert of the day is the claim)."""

    __tablename__ = "digest_days"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, local
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --------------------------------------------------------------------------
# Audit
# --------------------------------------------------------------------------


class AuditEvent(Base):
    """Append-only; each row carries the hash of the one before (see bot/audit.py)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    event: Mapped[str] = mapped_column(String(64), index=True)
    actor_id: Mapped[str | None] = mapped_column(String(64))
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger)
    incident_id: Mapped[int | None] = mapped_column(Integer, index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """A single row naming the last audit event: appending locks it, so the chain is linear."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_event_id: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer, default=0)


class NotifiableEvent(Base):
    """One Schedule 7 event to notify (issue 16): an incident's category, a section 47
    enquiry's start or outcome, or a referral to the DBS. Its recipients are frozen when it
    opens; ``closed_at`` is set when every one is recorded (or it is found not notifiable)."""

    __tablename__ = "notifiable_events"
    __table_args__ = (
        UniqueConstraint("incident_id", "event"),
        # The open events without a report (DBS referrals), for needs action and /healthz.
        Index("ix_notifiable_events_open_without_report", "due_at",
              sqlite_where=text("incident_id IS NULL AND closed_at IS NULL"),
              postgresql_where=text("incident_id IS NULL AND closed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    event: Mapped[str] = mapped_column(String(32))
    # For an event without an incident (a DBS referral): a pseudonymous reference.
    subject: Mapped[str | None] = mapped_column(String(100))
    opened_at: Mapped[datetime] = mapped_column(index=True)
    opened_by_id: Mapped[str | None] = mapped_column(ForeignKey("people.id"))
    due_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    not_notifiable_reason: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[str | None] = mapped_column(ForeignKey("people.id"))
    # The reminder clock of an event without an incident (an incident's events use the
    # incident's notification clock): the next reminder's number and when it is due.
    reminder_step: Mapped[int | None] = mapped_column(Integer)
    next_reminder_at: Mapped[datetime | None] = mapped_column(index=True)


class NotificationRecord(Base):
    """One recipient of one notifiable event: when, how, the reference, who; and for a
    phone call its written confirmation (reg. 36(2))."""

    __tablename__ = "notification_records"
    __table_args__ = (UniqueConstraint("event_id", "recipient"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("notifiable_events.id"), index=True)
    recipient: Mapped[str] = mapped_column(String(32))
    made_at: Mapped[datetime | None]
    method: Mapped[str | None] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(String(100))
    made_by_id: Mapped[str | None] = mapped_column(ForeignKey("people.id"))
    confirmed_at: Mapped[datetime | None]
    confirm_reference: Mapped[str | None] = mapped_column(String(100))
    confirmed_by_id: Mapped[str | None] = mapped_column(ForeignKey("people.id"))
    # "not applicable" for this recipient (e.g. the area authority is the placing one).
    not_required_reason: Mapped[str | None] = mapped_column(Text)


# --------------------------------------------------------------------------
# The web console (bot/web; sign-in and sessions in bot/people/web_sessions.py)
# --------------------------------------------------------------------------


class WebSignInLink(Base):
    """A one-time sign-in link sent by ``/web``; only the SHA-256 of its token is stored."""

    __tablename__ = "web_signin_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class WebSession(Base):
    """A signed-in browser; only the SHA-256 of the cookie's token is stored. Ends at
    sign-out, after ``idle`` without a request, at ``expires_at``, or when the person is
    deactivated or moved to another Telegram account (``ended_reason``)."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    how: Mapped[str] = mapped_column(String(16))  # link | miniapp
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    ended_reason: Mapped[str | None] = mapped_column(String(32))
