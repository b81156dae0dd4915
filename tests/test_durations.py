from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel, ValidationError

from bot.rules.durations import Duration, DurationField, parse_duration


@pytest.mark.parametrize(
    ("text", "amount", "working", "unit", "canonical"),
    [
        ("90s", timedelta(seconds=90), False, "s", "90s"),
        ("15m", timedelta(minutes=15), False, "m", "15m"),
        ("60m", timedelta(hours=1), False, "m", "60m"),
        ("4h", timedelta(hours=4), False, "h", "4h"),
        ("2d", timedelta(days=2), False, "d", "2d"),
        (" 15 M ", timedelta(minutes=15), False, "m", "15m"),
        ("1 working day", timedelta(days=1), True, "day", "1 working day"),
        ("3 working days", timedelta(days=3), True, "day", "3 working days"),
        ("1 working days", timedelta(days=1), True, "day", "1 working day"),
        ("3 working hours", timedelta(hours=3), True, "hour", "3 working hours"),
        ("1 working hour", timedelta(hours=1), True, "hour", "1 working hour"),
        ("30 working minutes", timedelta(minutes=30), True, "minute", "30 working minutes"),
        ("  2  Working   DAYS ", timedelta(days=2), True, "day", "2 working days"),
    ],
)
def test_parse_and_canonical_text(text, amount, working, unit, canonical):
    d = parse_duration(text)
    assert d == Duration(amount, working, unit)
    assert str(d) == canonical
    # the canonical text parses back to the same value
    assert parse_duration(str(d)) == d


@pytest.mark.parametrize(
    ("text", "count"),
    [("90s", 90), ("15m", 15), ("3 working days", 3), ("30 working minutes", 30)],
)
def test_count(text, count):
    assert parse_duration(text).count == count


def test_working_and_clock_differ():
    assert parse_duration("1 working day") != parse_duration("1d")
    assert parse_duration("60m") != parse_duration("1h")  # different written units
    assert parse_duration("60m").amount == parse_duration("1h").amount


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "15",
        "m",
        "15 minutes",
        "1.5h",
        "1,5h",
        "15mm",
        "1w",
        "1 working week",
        "working day",
        "1 workingday",
        "1 business day",
        "15m 30s",
        "٣h",  # not ASCII digits
    ],
)
def test_parse_errors_quote_text_and_show_forms(text):
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    msg = str(info.value)
    assert repr(text) in msg
    assert "'15m'" in msg and "working day" in msg


@pytest.mark.parametrize("text", ["0s", "0m", "0 working days", "000h"])
def test_zero_refused(text):
    with pytest.raises(ValueError, match="greater than zero"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["-5m", "-1 working day", " -2h"])
def test_negative_refused(text):
    with pytest.raises(ValueError, match="negative"):
        parse_duration(text)


def test_absurdly_long_refused():
    with pytest.raises(ValueError, match="maximum"):
        parse_duration("99999999999999999999d")
    with pytest.raises(ValueError, match="maximum"):
        parse_duration("3651d")
    assert parse_duration("3650d").amount == timedelta(days=3650)


def test_non_text_refused():
    with pytest.raises(ValueError, match="expected text"):
        parse_duration(15)  # type: ignore[arg-type]


def test_direct_construction_is_checked():
    with pytest.raises(ValueError):
        Duration(timedelta(0), False, "s")
    with pytest.raises(ValueError):
        Duration(timedelta(minutes=-1), False, "m")
    with pytest.raises(ValueError):
        Duration(timedelta(seconds=90), False, "m")  # not whole minutes
    with pytest.raises(ValueError):
        Duration(timedelta(days=1), True, "d")  # clock unit on a working duration
    with pytest.raises(ValueError):
        Duration(timedelta(days=1), False, "day")


def test_constructors():
    assert Duration.clock(15, "m") == parse_duration("15m")
    assert Duration.working_time(2, "day") == parse_duration("2 working days")
    assert Duration.from_timedelta(timedelta(hours=2)) == parse_duration("2h")
    assert Duration.from_timedelta(timedelta(seconds=90)) == parse_duration("90s")
    assert Duration.from_timedelta(timedelta(days=2)) == parse_duration("2d")


def test_frozen_and_hashable():
    d = parse_duration("15m")
    with pytest.raises(AttributeError):
        d.unit = "h"  # type: ignore[misc]
    assert {d: 1}[parse_duration("15m")] == 1


class Policy(BaseModel):
    after: DurationField
    repeat: DurationField | None = None


def test_pydantic_field_parses_and_serialises_back_to_text():
    p = Policy(after="15m", repeat="2 Working Days")
    assert p.after == Duration(timedelta(minutes=15), False, "m")
    assert p.repeat == Duration(timedelta(days=2), True, "day")
    assert p.model_dump() == {"after": "15m", "repeat": "2 working days"}
    assert p.model_dump_json() == '{"after":"15m","repeat":"2 working days"}'
    assert Policy.model_validate_json(p.model_dump_json()) == p


def test_pydantic_field_accepts_duration_and_timedelta():
    d = parse_duration("3 working hours")
    assert Policy(after=d).after is d
    assert Policy(after=timedelta(minutes=30)).after == parse_duration("30m")


@pytest.mark.parametrize("bad", ["0m", "-5m", "soon", 15, 1.5, None, {"amount": 1}, timedelta(0)])
def test_pydantic_field_rejects(bad):
    with pytest.raises(ValidationError) as info:
        Policy(after=bad)
    assert "accepted forms" in str(info.value)


def test_pydantic_json_schema_is_text():
    schema = Policy.model_json_schema()
    assert schema["properties"]["after"]["type"] == "string"
