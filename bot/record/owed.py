"""A Schedule 7 recipient still owed on an open notifiable event (shared by the
notification flow and its wording, so neither imports the other for it)."""

from __future__ import annotations

from dataclasses import dataclass

from storage.models import NotifiableEvent, NotificationRecord


@dataclass
class Owed:
    """One recipient still owed on an open event: not made, or a phone call unconfirmed."""

    event: NotifiableEvent
    record: NotificationRecord

    @property
    def needs_confirmation(self) -> bool:
        return self.record.made_at is not None
