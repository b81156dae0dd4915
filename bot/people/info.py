"""A directory person as the pure routing rules see them (``PersonInfo``)."""

from __future__ import annotations

from bot.rules.routing import PersonInfo
from storage.models import Person


def person_info(p: Person, roles: frozenset[str]) -> PersonInfo:
    return PersonInfo(
        id=p.id, name=p.name, roles=roles, active=p.active,
        linked=p.telegram_chat_id is not None, away_until=p.away_until, cover_id=p.cover_id,
        unreachable=p.unreachable_since is not None, phone=p.phone,
    )
