"""Configuration: a TOML file validated at start-up; secrets from the environment.

``load_config(path)`` returns a :class:`Settings` or raises :class:`ConfigError`
whose message names every bad key (``escalation.urgent.steps[1].after: ...``).
Every key is documented in ``config.example.toml``. The Telegram token is read
from ``FOSTERBOT_TELEGRAM_TOKEN`` and the webhook secret from
``FOSTERBOT_WEBHOOK_SECRET``; neither may appear in the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.rules import notifiable
from bot.rules.categories import CATEGORY_QUESTIONS, COPY_ROLES, DEFAULT_CATEGORIES, URGENCIES
from bot.rules.durations import Duration, parse_duration
from bot.rules.oversight import needs_oversight

TOKEN_ENV = "FOSTERBOT_TELEGRAM_TOKEN"
WEBHOOK_SECRET_ENV = "FOSTERBOT_WEBHOOK_SECRET"
CONFIG_ENV = "FOSTERBOT_CONFIG"
LOG_FORMAT_ENV = "FOSTERBOT_LOG_FORMAT"  # overrides [logging] format
# The same secrets as systemd credentials ($CREDENTIALS_DIRECTORY/NAME), when not in the env.
TOKEN_CREDENTIAL = "telegram-token"
WEBHOOK_SECRET_CREDENTIAL = "webhook-secret"
DEFAULT_CONFIG_PATH = "config.toml"


class ConfigError(Exception):
    """The configuration is invalid; the message lists each problem by key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, frozen=True)


def _duration(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a duration such as \"15m\" or \"1 working day\", got {value!r}")
    return parse_duration(value)


class WebhookSettings(_Strict):
    url: str = ""  # the public HTTPS URL Telegram posts to
    listen: str = "127.0.0.1"
    port: int = 8443
    path: str = "/telegram"


class TelegramSettings(_Strict):
    api_base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    mode: Literal["polling", "webhook"] = "polling"
    webhook: WebhookSettings = WebhookSettings()
    bot_username: str = ""  # optional; asked of Telegram (getMe) when empty
    request_timeout_seconds: float = 20.0


class DatabaseSettings(_Strict):
    url: str = "sqlite+aiosqlite:///fosterbot.db"

    @field_validator("url")
    @classmethod
    def _supported(cls, v: str) -> str:
        if not (v.startswith("sqlite+aiosqlite://") or v.startswith("postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB")
        return v


class ServiceSettings(_Strict):
    name: str = "Fostering Service"
    timezone: str = "Europe/London"
    duty_phone: str = ""
    out_of_hours_phone: str = ""
    invite_ttl: Duration = parse_duration("7d")

    _d = field_validator("invite_ttl", mode="before")(classmethod(lambda cls, v: _duration(v)))

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v


_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def _parse_span(text: str) -> tuple[time, time]:
    m = _SPAN.match(text)
    if not m:
        raise ValueError(f"expected \"HH:MM-HH:MM\", got {text!r}")
    h1, m1, h2, m2 = (int(x) for x in m.groups())
    try:
        start, end = time(h1, m1), time(h2, m2)
    except ValueError as exc:
        raise ValueError(f"not a time of day in {text!r}") from exc
    if end <= start:
        raise ValueError(f"the end must be after the start in {text!r}")
    return start, end


class HoursSettings(_Strict):
    """Working hours per weekday ("" = closed all day), extra closure dates."""

    monday: str = "09:00-17:00"
    tuesday: str = "09:00-17:00"
    wednesday: str = "09:00-17:00"
    thursday: str = "09:00-17:00"
    friday: str = "09:00-16:30"
    saturday: str = ""
    sunday: str = ""
    bank_holidays: bool = True  # England & Wales bank holidays are out of hours
    closures: list[date] = Field(default_factory=list)

    @field_validator(*_DAYS)
    @classmethod
    def _span(cls, v: str) -> str:
        if v.strip():
            _parse_span(v)
        return v

    def weekly(self) -> dict[int, tuple[time, time]]:
        out: dict[int, tuple[time, time]] = {}
        for i, day in enumerate(_DAYS):
            text = getattr(self, day)
            if text.strip():
                out[i] = _parse_span(text)
        return out


Target = str  # "recipients" | "team_manager" | "duty" | "edt" | "service_manager" | person id
TARGET_WORDS = ("recipients", "team_manager", "duty", "edt", "service_manager")
MIN_REPEAT = timedelta(minutes=1)


def shortest(duration: Duration) -> timedelta:
    """The least clock time a duration can take: working days at 24 hours each (a
    working day ends at the same time of day on the next working day, or later),
    working hours and minutes at their length, clock time as it is."""
    if duration.working and duration.unit == "day":
        return timedelta(days=duration.count)
    return duration.amount


class EscalationStep(_Strict):
    after: Duration
    notify: Target

    _d = field_validator("after", mode="before")(classmethod(lambda cls, v: _duration(v)))

    @field_validator("notify")
    @classmethod
    def _target(cls, v: str) -> str:
        if not v or not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", v):
            raise ValueError(
                "notify must be recipients, team_manager, duty, edt, service_manager or a person id"
            )
        return v


class EscalationPolicy(_Strict):
    steps: list[EscalationStep]
    repeat: Duration | None = None
    outcome_within: Duration | None = None

    _d = field_validator("repeat", "outcome_within", mode="before")(
        classmethod(lambda cls, v: None if v in (None, "") else _duration(v))
    )

    @field_validator("repeat")
    @classmethod
    def _repeat(cls, v: Duration | None) -> Duration | None:
        if v is not None and v.amount < MIN_REPEAT:
            raise ValueError(f"{v} is too short: repeat at least every minute (\"1m\")")
        return v

    @field_validator("steps")
    @classmethod
    def _ordered(cls, steps: list[EscalationStep]) -> list[EscalationStep]:
        if not steps:
            raise ValueError("at least one step is needed")
        return steps


def _policy(steps: list[tuple[str, str]], repeat: str | None, outcome: str | None) -> dict:
    return {
        "steps": [{"after": a, "notify": n} for a, n in steps],
        "repeat": repeat,
        "outcome_within": outcome,
    }


DEFAULT_ESCALATION = {
    "urgent": _policy(
        [("15m", "recipients"), ("30m", "team_manager"), ("60m", "edt")], "15m", "2 working days"
    ),
    "high": _policy([("1h", "recipients"), ("4h", "team_manager")], "4h", "3 working days"),
    "routine": _policy(
        [("1 working day", "recipients"), ("2 working days", "team_manager")],
        None,
        "10 working days",
    ),
}


class NotificationSettings(_Strict):
    """The second clock on notifiable events (reg. 36; NMS 29: within 24 hours)."""

    deadline: Duration = parse_duration("24h")
    remind_every: Duration = parse_duration("2h")
    # Who owns notifications (issue 16): the fostering service's registered manager,
    # their deputy, and the owner out of hours. Person ids (or rotas); the child's team
    # manager is told as well and may record.
    registered_manager: str | None = None
    deputy: str | None = None
    out_of_hours: str | None = None
    # Per event (a notifiable category key, s47_start, s47_outcome, dbs_referral): who
    # must be told and by when. Unset events take the Schedule 7 defaults.
    events: dict[str, "NotifiableEvent"] = Field(default_factory=dict)

    _d = field_validator("deadline", "remind_every", mode="before")(
        classmethod(lambda cls, v: _duration(v))
    )

    def event(self, key: str) -> "NotifiableEvent":
        """The recipients and deadline of an event: configured, else the default."""
        if key in self.events:
            return self.events[key]
        recipients, deadline, _source = notifiable.DEFAULT_EVENTS.get(
            key, (("ofsted", "responsible_authority"), "", ""))
        return NotifiableEvent(recipients=list(recipients),
                               deadline=deadline or self.deadline)


class NotifiableEvent(_Strict):
    """One Schedule 7 event: whom to notify and the deadline from the event."""

    recipients: list[str]
    deadline: Duration = parse_duration("24h")

    _d = field_validator("deadline", mode="before")(classmethod(lambda cls, v: _duration(v)))

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, v: list[str]) -> list[str]:
        bad = [r for r in v if r not in notifiable.RECIPIENTS]
        if bad or not v:
            raise ValueError(f"recipients must be some of {list(notifiable.RECIPIENTS)}")
        return list(dict.fromkeys(v))


NotificationSettings.model_rebuild()


class Category(_Strict):
    key: str
    label: str
    urgency: Literal["urgent", "high", "routine"]
    copy_roles: list[str] = Field(default_factory=list, alias="copy")
    notifiable: bool = False
    guidance: str = ""
    first: str = ""  # shown before anything else (the infant protocol: medical attention first)
    questions: list[str] = Field(default_factory=list)  # record questions of its own
    # Closing needs a manager's oversight entry first (None: urgent or notifiable ones do).
    oversight: bool | None = None

    @property
    def needs_oversight(self) -> bool:
        return needs_oversight(urgency=self.urgency, notifiable=self.notifiable,
                               setting=self.oversight)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("questions")
    @classmethod
    def _questions(cls, v: list[str]) -> list[str]:
        bad = [q for q in v if q not in CATEGORY_QUESTIONS]
        if bad or len(set(v)) != len(v):
            raise ValueError(f"unknown or repeated question(s) {bad or v}; "
                             f"use {list(CATEGORY_QUESTIONS)}")
        return v

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z0-9_]{1,24}", v):
            raise ValueError("key must be 1-24 of a-z, 0-9 and _ (it goes into button data)")
        return v

    @field_validator("copy_roles")
    @classmethod
    def _roles(cls, v: list[str]) -> list[str]:
        bad = [r for r in v if r not in COPY_ROLES]
        if bad:
            raise ValueError(f"unknown role(s) {bad}; use {list(COPY_ROLES)}")
        return v


# A child's reference must contain a digit, so a first or full name ("OliviaSmith",
# "Mohammed-Ali") is refused; the directory also limits it to 16 letters, digits, '-'.
DEFAULT_CHILD_REF_PATTERN = r"^(?=.*[0-9])[A-Za-z0-9][A-Za-z0-9-]{0,15}$"


class PrivacySettings(_Strict):
    minimal_alerts: bool = False
    child_ref_pattern: str = DEFAULT_CHILD_REF_PATTERN

    @field_validator("child_ref_pattern")
    @classmethod
    def _pattern(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return v


class StorageSettings(_Strict):
    keep_files: bool = False
    files_dir: str = "files"
    # Refuse to run without FOSTERBOT_DATA_KEYS (encryption at rest; storage/crypto.py).
    require_encryption: bool = False


DEFAULT_HEALTH_PORT = 8089


class HealthSettings(_Strict):
    """``GET /healthz`` while polling (webhook mode serves it next to the webhook)."""

    listen: str = "127.0.0.1"
    port: int = Field(DEFAULT_HEALTH_PORT, ge=0, le=65535)  # 0: no health server while polling


class WebSettings(_Strict):
    """The web console (``bot/web``): served next to the webhook and ``/healthz`` by
    ``fosterbot run`` when ``enabled``, or alone by ``fosterbot web``."""

    enabled: bool = False
    listen: str = "127.0.0.1"
    port: int = Field(8090, ge=0, le=65535)  # used when no webhook/health server is running
    # The address people open (behind a TLS proxy): links, the Mini App button, Secure cookies.
    public_base_url: str = ""
    link_ttl: Duration = parse_duration("10m")  # a /web sign-in link
    session_idle: Duration = parse_duration("30m")  # signed out after this long without use
    session_max: Duration = parse_duration("12h")  # and after this long at most
    miniapp_max_age: Duration = parse_duration("1h")  # the oldest Mini App initData accepted
    refresh_seconds: int = Field(5, ge=1, le=300)  # how often the needs-action list refreshes
    page_size: int = Field(25, ge=5, le=200)  # open reports per page

    _d = field_validator("link_ttl", "session_idle", "session_max", "miniapp_max_age",
                         mode="before")(classmethod(lambda cls, v: _duration(v)))

    @field_validator("link_ttl", "session_idle", "session_max", "miniapp_max_age")
    @classmethod
    def _clock_time(cls, v: Duration) -> Duration:
        if v.working or v.amount.total_seconds() <= 0:
            raise ValueError("use a clock time longer than zero, such as \"30m\"")
        return v

    @field_validator("public_base_url")
    @classmethod
    def _base(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if v and not re.match(r"^https?://[^/\s]+(/\S*)?$", v):
            raise ValueError(f"expected an address such as \"https://console.example.org\", "
                             f"got {v!r}")
        return v

    @property
    def secure(self) -> bool:
        """Cookies are marked Secure when people reach the console over HTTPS."""
        return self.public_base_url.startswith("https://")


class LoggingSettings(_Strict):
    """How log lines are written (``bot/logs.py``): ``text`` for people, ``json`` (one object
    per line, with the update id and incident reference) for a log search tool."""

    format: Literal["text", "json"] = "text"


class DigestSettings(_Strict):
    """The morning digest: each team manager's needs-action list, once a working day."""

    enabled: bool = True
    time: str = ""  # "HH:MM" local; "" = when that day's working hours start

    @field_validator("time")
    @classmethod
    def _time(cls, v: str) -> str:
        if v.strip():
            m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", v)
            if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
                raise ValueError(f"expected a time of day such as \"08:30\", or \"\", got {v!r}")
        return v.strip()

    def at(self) -> time | None:
        if not self.time:
            return None
        hh, mm = self.time.split(":")
        return time(int(hh), int(mm))


class DeliverySettings(_Strict):
    global_per_second: float = Field(29.0, gt=0)  # one under Telegram's ~30/s
    global_burst: int = Field(5, ge=1)
    per_chat_per_second: float = Field(1.0, gt=0)
    per_chat_burst: int = Field(3, ge=1)
    retry_for: Duration = parse_duration("6h")
    poll_interval_seconds: float = Field(2.0, gt=0)
    lease: Duration = parse_duration("60s")

    _d = field_validator("retry_for", "lease", mode="before")(
        classmethod(lambda cls, v: _duration(v))
    )

    @field_validator("retry_for", "lease")
    @classmethod
    def _clock_time(cls, v: Duration) -> Duration:
        if v.working:
            raise ValueError("use clock time here (such as \"6h\"), not working time")
        if v.amount.total_seconds() <= 0:
            raise ValueError("must be longer than zero")
        return v


class LimitSettings(_Strict):
    """Abuse limits (bot/people/limits.py)."""

    stranger_window: Duration = parse_duration("10m")  # one reply per unlinked account
    commands_per_minute: int = Field(20, ge=1)  # per linked person

    _d = field_validator("stranger_window", mode="before")(
        classmethod(lambda cls, v: _duration(v))
    )


class RetentionSettings(_Strict):
    """How long what people typed is kept (UK GDPR storage limitation; bot/record/retention.py)."""

    drafts: Duration = parse_duration("30d")  # finished or discarded drafts
    processed_updates: Duration = parse_duration("7d")  # update ids (redelivery guard)
    closed_records: Duration | None = None  # off by default: closed records are kept

    _d = field_validator("drafts", "processed_updates", mode="before")(
        classmethod(lambda cls, v: _duration(v))
    )
    _o = field_validator("closed_records", mode="before")(
        classmethod(lambda cls, v: None if v in (None, "", "off") else _duration(v))
    )

    @field_validator("drafts", "processed_updates", "closed_records")
    @classmethod
    def _clock_time(cls, v: Duration | None) -> Duration | None:
        if v is not None and (v.working or v.amount.total_seconds() <= 0):
            raise ValueError("use a clock-time duration longer than zero, such as \"30d\"")
        return v


class EngineSettings(_Strict):
    sweep_interval_seconds: float = 30.0
    late_margin: Duration = parse_duration("5m")
    draft_keep: Duration = parse_duration("2d")
    draft_remind_after: Duration = parse_duration("2h")
    # Outcome clock: the acknowledger is reminded when the policy's outcome_within
    # has passed; their team manager this much later if still no outcome.
    outcome_manager_after: Duration = parse_duration("1 working day")

    _d = field_validator("late_margin", "draft_keep", "draft_remind_after",
                         "outcome_manager_after", mode="before")(
        classmethod(lambda cls, v: _duration(v))
    )


class StatutorySettings(_Strict):
    """Statutory clocks for children in care (issue 15; bot/people/statutory.py)."""

    # A needs assessment within this of the child entering care (from the start of the day).
    needs_assessment_within: Duration = parse_duration("72h")
    # The owner is reminded this long before a task falls due; at the due time the owner and
    # the team manager are told it is overdue; then the team manager again every ``repeat``.
    remind_before: Duration = parse_duration("24h")
    repeat: Duration = parse_duration("24h")
    # A child whose clock would have fallen due longer ago than this when the bot first
    # learns of them gets no task (history before the bot is not chased).
    lookback: Duration = parse_duration("14d")
    # Placement visits (CPPCR (England) Regulations 2010, reg. 28): the first within this of
    # the placement starting; then at most ``visit_every`` apart in the placement's first
    # year; after it, at most ``visit_every_long_term_months`` calendar months apart where
    # the placement is long-term, else ``visit_every``.
    visit_first_within: Duration = parse_duration("7d")
    visit_every: Duration = parse_duration("42d")
    visit_every_long_term_months: int = Field(3, ge=1, le=12)
    visit_remind_before: Duration = parse_duration("7d")  # a visit needs planning
    # A baby removed at birth: each child protection step is due this long after the day
    # the baby entered care.
    strategy_discussion_within: Duration = parse_duration("1d")
    cp_conference_within: Duration = parse_duration("21d")  # about 15 working days
    health_visitor_within: Duration = parse_duration("2d")
    # An action from a manager's oversight entry is due by the end of its day: then its
    # owner is reminded; if it is still not done this long after, the manager who recorded
    # the oversight is told (and again every ``repeat``).
    oversight_action_escalate_after: Duration = parse_duration("24h")

    _d = field_validator("needs_assessment_within", "remind_before", "repeat", "lookback",
                         "visit_first_within", "visit_every", "visit_remind_before",
                         "strategy_discussion_within",
                         "cp_conference_within", "health_visitor_within",
                         "oversight_action_escalate_after",
                         mode="before")(classmethod(lambda cls, v: _duration(v)))

    @field_validator("needs_assessment_within", "remind_before", "repeat", "lookback",
                     "visit_first_within", "visit_every", "visit_remind_before",
                     "strategy_discussion_within",
                     "cp_conference_within", "health_visitor_within",
                     "oversight_action_escalate_after")
    @classmethod
    def _clock_time(cls, v: Duration) -> Duration:
        if v.working:
            raise ValueError("use clock time here (such as \"72h\"), not working time")
        if v.amount.total_seconds() <= 0:
            raise ValueError("must be longer than zero")
        return v


class Settings(_Strict):
    telegram: TelegramSettings = TelegramSettings()
    database: DatabaseSettings = DatabaseSettings()
    service: ServiceSettings = ServiceSettings()
    hours: HoursSettings = HoursSettings()
    escalation: dict[str, EscalationPolicy] = Field(
        default_factory=lambda: {k: EscalationPolicy(**v) for k, v in DEFAULT_ESCALATION.items()}
    )
    notification: NotificationSettings = NotificationSettings()
    categories: list[Category] = Field(
        default_factory=lambda: [Category(**c) for c in DEFAULT_CATEGORIES]
    )
    privacy: PrivacySettings = PrivacySettings()
    storage: StorageSettings = StorageSettings()
    delivery: DeliverySettings = DeliverySettings()
    health: HealthSettings = HealthSettings()
    digest: DigestSettings = DigestSettings()
    engine: EngineSettings = EngineSettings()
    limits: LimitSettings = LimitSettings()
    retention: RetentionSettings = RetentionSettings()
    statutory: StatutorySettings = StatutorySettings()
    web: WebSettings = WebSettings()
    log_level: str = "INFO"
    logging: LoggingSettings = LoggingSettings()
    # [escalation] last_resort: the person or rota id a step goes to when nobody else in
    # the chain can be reached (checked against the directory by ``fosterbot run``).
    last_resort: str = Field(default="", exclude=True)

    # Not from the file: the secrets, filled from the environment by load_config.
    token: str = Field(default="", exclude=True)
    webhook_secret: str = Field(default="", exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _escalation_scalars(cls, data: Any) -> Any:
        """``[escalation] last_resort`` sits beside the per-urgency policies in the file."""
        if isinstance(data, dict) and isinstance(data.get("escalation"), dict) \
                and "last_resort" in data["escalation"]:
            data = {**data, "escalation": dict(data["escalation"])}
            value = data["escalation"].pop("last_resort")
            if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}",
                                                              value):
                raise ValueError(f"escalation.last_resort: {value!r} is not a person or rota id")
            data["last_resort"] = value
        return data

    @field_validator("escalation", mode="before")
    @classmethod
    def _fill_escalation(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            return v
        merged = dict(DEFAULT_ESCALATION)
        merged.update(v)
        return merged

    @model_validator(mode="after")
    def _check(self) -> "Settings":
        unknown = set(self.escalation) - set(URGENCIES)
        if unknown:
            raise ValueError(f"escalation: unknown urgency {sorted(unknown)}; use {list(URGENCIES)}")
        problems = self.step_order_problems()
        if problems:
            raise ValueError("\n  ".join(problems))
        keys = [c.key for c in self.categories]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"categories: duplicate key(s) {dupes}")
        if not self.categories:
            raise ValueError("categories: at least one category is needed")
        return self

    def step_order_problems(self) -> list[str]:
        """Each policy's steps must come later and later (a working-time step compared at
        its shortest, see :func:`shortest`): one message per step out of order, by key."""
        out = []
        for urgency, pol in self.escalation.items():
            for i in range(1, len(pol.steps)):
                before, step = pol.steps[i - 1], pol.steps[i]
                if shortest(step.after) <= shortest(before.after):
                    out.append(
                        f"escalation.{urgency}.steps[{i}].after: {step.after} is not later than "
                        f"steps[{i - 1}].after ({before.after}); steps run in increasing order "
                        "of after (a working day counts as 24 hours at its shortest)")
        return out

    def target_problems(self, person_ids: set[str]) -> list[str]:
        """Escalation targets that are neither a known word nor a person in the directory
        (checked when the bot starts and when a directory is imported)."""
        out = []
        for urgency, pol in self.escalation.items():
            for i, step in enumerate(pol.steps):
                if step.notify not in TARGET_WORDS and step.notify not in person_ids:
                    out.append(
                        f"escalation.{urgency}.steps[{i}].notify: {step.notify!r} is neither "
                        f"{', '.join(TARGET_WORDS)} nor a person or rota id in the directory")
        return out

    def category(self, key: str) -> Category | None:
        for c in self.categories:
            if c.key == key:
                return c
        return None

    def policy_version(self, urgency: str) -> str:
        """A short fingerprint of one urgency's policy, recorded on each incident."""
        pol = self.escalation[urgency]
        text = json.dumps(
            {
                "steps": [(str(s.after), s.notify) for s in pol.steps],
                "repeat": str(pol.repeat) if pol.repeat else None,
                "outcome": str(pol.outcome_within) if pol.outcome_within else None,
            },
            sort_keys=True,
        )
        return f"{urgency}:{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in err["loc"])
        loc = loc.replace(".[", "[")
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"  {loc}: {msg}" if loc else f"  {msg}")
    return "\n".join(lines)


def parse_settings(data: dict[str, Any], *, source: str = "configuration") -> Settings:
    for secret in ("token", "webhook_secret"):
        if secret in data or secret in data.get("telegram", {}):
            raise ConfigError(
                f"{source}: telegram.{secret} must not be in the file; "
                f"set {TOKEN_ENV if secret == 'token' else WEBHOOK_SECRET_ENV} in the environment"
            )
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(f"{source} is invalid:\n{_format_errors(exc)}") from None
    except ValueError as exc:
        raise ConfigError(f"{source} is invalid:\n  {exc}") from None


def resolve_config_path(path: str | None) -> Path:
    return Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)


def _credential(name: str, env: Any) -> str:
    """A secret systemd passed with ``LoadCredential=NAME:…`` (``$CREDENTIALS_DIRECTORY/NAME``),
    "" when none. (The data keys are read the same way by ``storage.crypto``, which may not
    import this module, nor this module storage.)"""
    folder = env.get("CREDENTIALS_DIRECTORY")
    if not folder:
        return ""
    try:
        return (Path(folder) / name).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return ""


def load_config(path: str | Path | None = None, *, env: dict[str, str] | None = None) -> Settings:
    """Read and validate the configuration; a missing file means all defaults."""
    env = os.environ if env is None else env
    p = resolve_config_path(str(path) if path else None)
    data: dict[str, Any] = {}
    if p.exists():
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    elif path is not None:
        raise ConfigError(f"{p}: no such configuration file")
    settings = parse_settings(data, source=str(p))
    extra: dict[str, Any] = {}
    log_format = env.get(LOG_FORMAT_ENV, "").strip().lower()
    if log_format:
        if log_format not in ("text", "json"):
            raise ConfigError(f"{LOG_FORMAT_ENV}: {log_format!r} is not a log format; "
                              "use text or json")
        extra["logging"] = LoggingSettings(format=log_format)
    return settings.model_copy(
        update={
            # The environment, else a systemd credential (LoadCredential=, see deploy/).
            "token": env.get(TOKEN_ENV, "").strip() or _credential(TOKEN_CREDENTIAL, env),
            "webhook_secret": env.get(WEBHOOK_SECRET_ENV, "").strip()
            or _credential(WEBHOOK_SECRET_CREDENTIAL, env),
            **extra,
        }
    )
