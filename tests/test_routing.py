"""Routing rules as pure logic (no database, no Telegram)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bot.rules.routing import PersonInfo, RoutingInput, TeamInfo, route_incident

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)


def people(**overrides):
    base = {
        "sw": PersonInfo("sw", "Priya", frozenset({"social_worker"}), linked=True, cover_id="cov",
                         phone="111"),
        "cov": PersonInfo("cov", "Omar", frozenset({"social_worker"}), linked=True),
        "duty": PersonInfo("duty", "Duty", frozenset({"duty"}), linked=True, phone="999"),
        "tm": PersonInfo("tm", "Manager", frozenset({"team_manager"}), linked=True),
        "edt": PersonInfo("edt", "EDT", frozenset({"edt"}), linked=True),
        "ssw": PersonInfo("ssw", "Grace", frozenset({"supervising_social_worker"}), linked=True),
        "lado": PersonInfo("lado", "Lado", frozenset({"lado"}), linked=True),
        "carer": PersonInfo("carer", "Sam", frozenset({"carer"}), linked=True),
    }
    for pid, changes in overrides.items():
        p = base[pid]
        base[pid] = PersonInfo(**{**p.__dict__, **changes})
    return base


def rin(ppl=None, *, urgency="routine", copy=(), ooh=False, allocated="sw"):
    return RoutingInput(
        now=NOW, urgency=urgency, copy_roles=tuple(copy), out_of_hours=ooh,
        team=TeamInfo("t", manager_id="tm", duty_id="duty", edt_id="edt"),
        allocated_id=allocated, carer_id="carer", supervising_id="ssw",
        people=ppl or people(), by_role={"lado": ("lado",)},
    )


def reasons(route):
    return [(r.person_id, r.reason) for r in route.recipients]


def test_allocated_worker_and_supervising_copy():
    route = route_incident(rin())
    assert reasons(route) == [("sw", "allocated"), ("ssw", "supervising")]
    assert route.holder_id == "sw" and not route.missed and not route.phone_advice


def test_away_worker_goes_to_named_cover():
    route = route_incident(rin(people(sw={"away_until": NOW + timedelta(days=2)})))
    assert reasons(route)[0] == ("cov", "cover")
    assert route.holder_id == "cov"
    assert route.missed[0][0] == "sw" and "away" in route.missed[0][1]


def test_away_until_past_is_back():
    route = route_incident(rin(people(sw={"away_until": NOW - timedelta(minutes=1)})))
    assert route.holder_id == "sw"


def test_no_cover_goes_to_duty():
    route = route_incident(rin(people(sw={"linked": False, "cover_id": None})))
    assert reasons(route)[0] == ("duty", "duty")
    assert ("Priya", "111") in route.phone_advice  # the carer is told whom to phone


def test_cover_unavailable_falls_to_duty():
    route = route_incident(rin(people(sw={"active": False}, cov={"unreachable": True})))
    assert route.holder_id == "duty"
    assert {m[0] for m in route.missed} == {"sw", "cov"}


def test_out_of_hours_urgent_and_high_add_edt_not_routine():
    for urgency in ("urgent", "high"):
        assert ("edt", "edt") in reasons(route_incident(rin(urgency=urgency, ooh=True)))
    assert "edt" not in [p for p, _ in reasons(route_incident(rin(urgency="routine", ooh=True)))]
    assert "edt" not in [p for p, _ in reasons(route_incident(rin(urgency="urgent", ooh=False)))]


def test_category_copies():
    route = route_incident(rin(urgency="urgent", copy=("lado", "team_manager")))
    assert ("lado", "copy:lado") in reasons(route)
    assert ("tm", "copy:team_manager") in reasons(route)


def test_each_person_once_under_first_reason():
    route = route_incident(rin(copy=("duty",), allocated="duty"))
    assert [p for p, _ in reasons(route)].count("duty") == 1
    assert reasons(route)[0] == ("duty", "allocated")


def test_nobody_reachable_tells_manager_and_gives_phone():
    ppl = people(sw={"linked": False}, cov={"linked": False}, duty={"linked": False},
                 ssw={"linked": False})
    route = route_incident(rin(ppl))
    assert route.nobody_reachable
    assert reasons(route) == [("tm", "manager_fallback")]
    assert ("Duty", "999") in route.phone_advice


def test_carer_never_receives_own_alert():
    route = route_incident(rin(allocated="carer"))
    assert "carer" not in [p for p, _ in reasons(route)]
