"""Simulated Telegram users ("people") who talk to the bot through the emulator.

A :class:`FakeUser` is the test's hands and eyes: it sends text, files and
button presses to the bot (each becomes an Update the bot fetches over the
fake Bot API), and it sees what the bot shows it - the messages in its private
chat (chat id == user id), as they are *now* after edits, with their inline
buttons, plus the answers to its button presses.

Waiting is event based: :meth:`FakeUser.wait_for` looks at bot messages sent
or edited since the user's last action (send/click), so a test reads like a
conversation::

    await alice.send("/start")
    await alice.wait_for("Welcome")
    await alice.click("Report an incident")
    msg = await alice.wait_for("What happened?")
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover
    from .server import FakeBotAPI

__all__ = ["BotMessage", "CallbackAnswer", "FakeUser"]


@dataclass
class BotMessage:
    """A message the bot sent, kept current as the bot edits or deletes it."""

    chat_id: int
    message_id: int
    date: int
    text: str | None = None  # plain text (tags stripped, entities decoded)
    html: str | None = None  # the raw text as the bot sent it (HTML when parse_mode=HTML)
    parse_mode: str | None = None
    entities: list[dict] = field(default_factory=list)
    caption: str | None = None
    caption_html: str | None = None
    caption_entities: list[dict] = field(default_factory=list)
    reply_markup: dict | None = None  # inline keyboard markup only (what Telegram returns)
    reply_keyboard: list[list[str]] | None = None  # ReplyKeyboardMarkup button texts
    edited: int = 0
    edit_date: int | None = None
    deleted: bool = False
    document: dict | None = None
    photo: list[dict] | None = None
    voice: dict | None = None
    video_note: dict | None = None
    video: dict | None = None
    reply_to_message_id: int | None = None
    silent: bool = False  # sent with disable_notification: no sound on the phone

    @property
    def buttons(self) -> list[list[tuple[str, str | None]]]:
        """Inline keyboard as rows of ``(label, callback_data or url)``."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [
            [(b.get("text", ""), b.get("callback_data", b.get("url"))) for b in row]
            for row in rows
        ]

    @property
    def button_labels(self) -> list[str]:
        return [label for row in self.buttons for label, _ in row]

    @property
    def content(self) -> str:
        """Text or caption, whichever the message has ("" if neither)."""
        return self.text if self.text is not None else (self.caption or "")

    def to_dict(self, bot_user: dict, chat: dict) -> dict:
        """The Telegram ``Message`` object for this message."""
        msg: dict[str, Any] = {
            "message_id": self.message_id,
            "from": bot_user,
            "chat": chat,
            "date": self.date,
        }
        if self.edit_date is not None:
            msg["edit_date"] = self.edit_date
        if self.text is not None:
            msg["text"] = self.text
            if self.entities:
                msg["entities"] = self.entities
        if self.caption is not None:
            msg["caption"] = self.caption
            if self.caption_entities:
                msg["caption_entities"] = self.caption_entities
        for name in ("document", "photo", "voice", "video_note", "video"):
            if getattr(self, name) is not None:
                msg[name] = getattr(self, name)
        if self.reply_markup:
            msg["reply_markup"] = self.reply_markup
        return msg

    def describe(self) -> str:
        parts = []
        if self.document:
            parts.append(f"[document {self.document.get('file_name')}]")
        if self.photo:
            parts.append("[photo]")
        if self.voice:
            parts.append("[voice]")
        if self.video_note:
            parts.append("[video note]")
        if self.video:
            parts.append("[video]")
        parts.append(self.content)
        if self.silent:
            parts.append("[silent]")
        out = " ".join(p for p in parts if p)
        if self.buttons:
            out += "\n      buttons: " + " / ".join(
                "[" + " | ".join(label for label, _ in row) + "]" for row in self.buttons
            )
        if self.reply_keyboard:
            out += "\n      keyboard: " + " / ".join(
                "[" + " | ".join(row) + "]" for row in self.reply_keyboard
            )
        return out


@dataclass
class CallbackAnswer:
    """What the bot answered to one of the user's button presses."""

    query_id: str
    text: str | None
    show_alert: bool
    url: str | None = None

    def __str__(self) -> str:  # pragma: no cover - debugging aid
        return f"{'ALERT ' if self.show_alert else ''}{self.text or ''}"


@dataclass
class _Event:
    seq: int
    kind: str  # "sent" | "edited"
    message: BotMessage
    content: str  # text/caption at the time of the event


class FakeUser:
    """One simulated person with a private chat with the bot (chat id == user id).

    Attributes a test may set: ``started`` (False = never opened the bot, so
    the bot gets 403 "can't initiate conversation"), ``blocked``,
    ``deactivated``.
    """

    def __init__(self, api: "FakeBotAPI", user_id: int, first_name: str,
                 username: str | None = None, last_name: str | None = None,
                 language_code: str = "en") -> None:
        self._api = api
        self.id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.started = False
        self.blocked = False
        self.deactivated = False
        self._messages: list[BotMessage] = []
        self._events: list[_Event] = []
        self._cursor = 0  # events index at the user's last action
        self._answers_cursor = 0
        self.callback_answers: list[CallbackAnswer] = []
        self.chat_actions: list[str] = []
        self._log: list[str] = []
        self.user_messages: list[dict] = []  # messages this user sent (Message dicts)

    # ----------------------------------------------------------- Telegram shapes
    @property
    def chat_id(self) -> int:
        return self.id

    def as_user(self) -> dict:
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    def as_chat(self) -> dict:
        chat: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            chat["last_name"] = self.last_name
        if self.username:
            chat["username"] = self.username
        return chat

    @property
    def name(self) -> str:
        return self.first_name + (f" (@{self.username})" if self.username else "")

    # ----------------------------------------------------------------- actions
    def _mark_action(self) -> None:
        self._cursor = len(self._events)
        self._answers_cursor = len(self.callback_answers)

    def _new_message(self, **content: Any) -> dict:
        msg = {
            "message_id": self._api._next_message_id(self.id),
            "from": self.as_user(),
            "chat": self.as_chat(),
            "date": int(time.time()),
            **content,
        }
        self.started = True
        self.user_messages.append(msg)
        return msg

    async def send(self, text: str, *, reply_to_message_id: int | None = None) -> dict:
        """Send a text message to the bot; a leading ``/command`` gets a bot_command entity."""
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            content["entities"] = [{"type": "bot_command", "offset": 0,
                                    "length": len(command.encode("utf-16-le")) // 2}]
        if reply_to_message_id is not None:
            replied = self._api._find_message(self.id, reply_to_message_id)
            if replied is not None:
                content["reply_to_message"] = replied
        msg = self._new_message(**content)
        self._log.append(f"{self.first_name}: {text}")
        self._mark_action()
        self._api._queue_update({"message": msg})
        return msg

    async def _send_file(self, kind: str, data: bytes, log: str, *, caption: str | None = None,
                         **meta: Any) -> dict:
        info = self._api._store_file(kind, data, **meta)
        content: dict[str, Any] = {}
        if kind == "photo":
            content["photo"] = info
        else:
            content[kind] = info
        if caption is not None:
            content["caption"] = caption
        msg = self._new_message(**content)
        self._log.append(f"{self.first_name}: [{log}]" + (f" {caption}" if caption else ""))
        self._mark_action()
        self._api._queue_update({"message": msg})
        return msg

    async def send_photo(self, data: bytes, caption: str | None = None) -> dict:
        return await self._send_file("photo", data, "photo", caption=caption)

    async def send_voice(self, data: bytes, duration: int = 3) -> dict:
        return await self._send_file("voice", data, "voice", duration=duration,
                                     mime_type="audio/ogg")

    async def send_document(self, data: bytes, filename: str, caption: str | None = None,
                            mime_type: str = "application/octet-stream") -> dict:
        return await self._send_file("document", data, f"document {filename}", caption=caption,
                                     file_name=filename, mime_type=mime_type)

    async def send_video_note(self, data: bytes, duration: int = 3, length: int = 240) -> dict:
        return await self._send_file("video_note", data, "video note", duration=duration,
                                     length=length)

    def _find_button(self, label: str, message_id: int | None) -> tuple[BotMessage, str]:
        candidates = [m for m in reversed(self._messages) if not m.deleted]
        if message_id is not None:
            candidates = [m for m in candidates if m.message_id == message_id]
        for exact in (True, False):
            for m in candidates:
                for row in (m.reply_markup or {}).get("inline_keyboard") or []:
                    for b in row:
                        text = b.get("text", "")
                        if (text == label) if exact else (label.lower() in text.lower()):
                            if "callback_data" not in b:
                                raise AssertionError(
                                    f"button {text!r} in message {m.message_id} is a "
                                    f"{', '.join(k for k in b if k != 'text')} button, "
                                    "not a callback button"
                                )
                            return m, b["callback_data"]
        visible = [
            f"  #{m.message_id}: {m.button_labels}" for m in candidates if m.buttons
        ] or ["  (no inline buttons)"]
        raise AssertionError(
            f"{self.name}: no button {label!r}"
            + (f" in message {message_id}" if message_id is not None else "")
            + ". Visible buttons:\n" + "\n".join(visible)
            + "\n--- transcript ---\n" + self.transcript()
        )

    async def click(self, label: str, *, message_id: int | None = None) -> str:
        """Press the inline button labelled *label* (exact match preferred, else substring).

        Searches the newest bot message first (or only *message_id*). Returns the
        callback query id. Raises AssertionError listing visible buttons if none matches.
        """
        message, data = self._find_button(label, message_id)
        self._log.append(f"{self.first_name} clicked [{label}] on #{message.message_id}")
        return self._press(message, data)

    async def press_data(self, data: str, message_id: int | None = None) -> str:
        """Send a callback query with arbitrary (possibly forged) *data*.

        Attached to *message_id* or to the newest bot message in the chat.
        """
        live = [m for m in self._messages if not m.deleted]
        if message_id is not None:
            message = next((m for m in live if m.message_id == message_id), None)
            if message is None:
                raise AssertionError(f"{self.name}: no bot message {message_id} in chat")
        elif live:
            message = live[-1]
        else:
            raise AssertionError(f"{self.name}: no bot message to attach the callback to")
        self._log.append(f"{self.first_name} pressed data={data!r} on #{message.message_id}")
        return self._press(message, data)

    def _press(self, message: BotMessage, data: str) -> str:
        query_id = self._api._new_callback_query(self.id)
        self.started = True
        self._mark_action()
        self._api._queue_update({"callback_query": {
            "id": query_id,
            "from": self.as_user(),
            "message": message.to_dict(self._api.bot_user, self.as_chat()),
            "chat_instance": str(-self.id * 7 - 1),
            "data": data,
        }})
        return query_id

    # ------------------------------------------------------------ observation
    @property
    def messages(self) -> list[BotMessage]:
        """The bot's messages in this chat (deleted ones left out), oldest first."""
        return [m for m in self._messages if not m.deleted]

    @property
    def last(self) -> BotMessage | None:
        live = self.messages
        return live[-1] if live else None

    def transcript(self) -> str:
        """Readable chat log: what the user did and what the bot showed, in order."""
        return "\n".join(self._log) if self._log else "(empty chat)"

    def mark(self) -> None:
        """Make later ``wait_for`` calls ignore everything the bot did until now."""
        self._mark_action()

    async def wait_for(self, text_contains: str | None = None, *,
                       predicate: Callable[[BotMessage], bool] | None = None,
                       timeout: float = 5.0) -> BotMessage:
        """Wait for a bot message, sent or edited since the user's last action, that matches.

        *text_contains* is looked for in the text (or caption) as it was when the
        message was sent/edited; *predicate* gets the (current) BotMessage. Returns
        the message; on timeout raises AssertionError with the chat transcript.
        """
        def match() -> BotMessage | None:
            for ev in self._events[self._cursor:]:
                if text_contains is not None and text_contains not in ev.content:
                    continue
                if predicate is not None and not predicate(ev.message):
                    continue
                return ev.message
            return None

        found = await self._api._wait_until(match, timeout)
        if found is None:
            raise AssertionError(
                f"{self.name}: timed out after {timeout}s waiting for a bot message"
                + (f" containing {text_contains!r}" if text_contains is not None else "")
                + (" matching predicate" if predicate is not None else "")
                + "\n--- transcript ---\n" + self.transcript()
            )
        return found

    async def wait_for_count(self, n: int, timeout: float = 5.0) -> list[BotMessage]:
        """Wait until the bot has sent at least *n* messages in this chat (ever, incl. deleted)."""
        ok = await self._api._wait_until(lambda: len(self._messages) >= n or None, timeout)
        if not ok:
            raise AssertionError(
                f"{self.name}: expected {n} bot messages, have {len(self._messages)} "
                f"after {timeout}s\n--- transcript ---\n{self.transcript()}"
            )
        return self.messages

    async def wait_for_answer(self, contains: str | None = None,
                              timeout: float = 5.0) -> CallbackAnswer:
        """Wait for the bot to answer a button press (since the last action) matching *contains*."""
        def match() -> CallbackAnswer | None:
            for a in self.callback_answers[self._answers_cursor:]:
                if contains is None or (a.text and contains in a.text):
                    return a
            return None

        found = await self._api._wait_until(match, timeout)
        if found is None:
            raise AssertionError(
                f"{self.name}: no callback answer"
                + (f" containing {contains!r}" if contains else "")
                + f" within {timeout}s; answers so far: "
                + f"{[str(a) for a in self.callback_answers]}\n--- transcript ---\n"
                + self.transcript()
            )
        return found

    # ------------------------------------------------- called by the server
    def _record(self, kind: str, message: BotMessage) -> None:
        if kind == "sent":
            self._messages.append(message)
            self._log.append(f"  bot #{message.message_id}: {message.describe()}")
        elif kind == "edited":
            self._log.append(f"  bot #{message.message_id} (edited): {message.describe()}")
        elif kind == "deleted":
            self._log.append(f"  bot deleted #{message.message_id}")
            return
        self._events.append(_Event(len(self._events), kind, message, message.content))

    def _record_answer(self, answer: CallbackAnswer) -> None:
        self.callback_answers.append(answer)
        if answer.text:
            self._log.append(f"  bot answered: {'(alert) ' if answer.show_alert else ''}"
                             f"{answer.text}")

    def __repr__(self) -> str:
        return f"FakeUser({self.id}, {self.first_name!r})"
