"""The Bot API methods of the emulator (one ``m_<methodName>`` per method).

This is a mixin of :class:`bot.emulator.server.FakeBotAPI`; it holds the
per-method behaviour and validation, while the server module deals with HTTP,
the update queue, webhooks and faults.  Every method gets a :class:`Params`
(request parameters, already decoded from JSON / form / multipart) and returns
the ``result`` value, or raises :class:`~bot.emulator.faults.ApiError`.

Validation follows what Telegram does and says (exact descriptions), see the
package docstring.  Results are shaped like the Bot API documents them, so
python-telegram-bot's ``de_json`` parses them.
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any

from .faults import ApiError, bad_request, forbidden
from .markup import EntityParseError, parse_html, parse_markdown_v2
from .people import BotMessage, CallbackAnswer

if TYPE_CHECKING:  # pragma: no cover
    from .people import FakeUser

__all__ = ["BotMethods", "Params", "UploadedFile"]

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_ANSWER = 200
NOT_MODIFIED = ("message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message")
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
_BUTTON_ACTIONS = ("callback_data", "url", "web_app", "login_url", "switch_inline_query",
                   "switch_inline_query_current_chat", "switch_inline_query_chosen_chat",
                   "copy_text", "callback_game", "pay")
_CHAT_ACTIONS = {"typing", "upload_photo", "record_video", "upload_video", "record_voice",
                 "upload_voice", "upload_document", "choose_sticker", "find_location",
                 "record_video_note", "upload_video_note"}
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")


class UploadedFile:
    """A file part of a multipart request."""

    def __init__(self, data: bytes, filename: str | None, content_type: str | None) -> None:
        self.data = data
        self.filename = filename
        self.content_type = content_type


class Params(dict):
    """Request parameters with Telegram-style coercion.

    PTB sends plain calls form-encoded where every non-string value is JSON
    text (``chat_id="42"``, ``reply_markup='{"inline_keyboard": ...}'``), and
    uploads as multipart; JSON bodies hold real types. The getters accept both.
    """

    def int(self, name: str, default: Any = None, required: bool = False) -> Any:
        value = self.get(name)
        if value is None or value == "":
            if required:
                raise bad_request(f"{name} is empty" if name != "chat_id" else "chat_id is empty")
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            if name == "chat_id" and isinstance(value, str):
                return value  # @username
            raise bad_request(f"invalid {name} specified") from None

    def str(self, name: str, default: Any = None) -> Any:
        value = self.get(name)
        if value is None:
            return default
        if isinstance(value, UploadedFile):
            return value
        return value if isinstance(value, str) else json.dumps(value)

    def bool(self, name: str, default: bool = False) -> bool:
        value = self.get(name)
        if value is None:
            return default
        if isinstance(value, str):
            return value.lower() in ("true", "1")
        return bool(value)

    def json(self, name: str, default: Any = None) -> Any:
        value = self.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise bad_request(f"can't parse {name} JSON object") from None
        return value


def _format(text: str, parse_mode: str | None, what: str = "text") -> tuple[str, list[dict]]:
    mode = (parse_mode or "").lower()
    try:
        if mode == "html":
            return parse_html(text)
        if mode == "markdownv2":
            return parse_markdown_v2(text)
    except EntityParseError as err:
        raise bad_request(f"can't parse entities: {err}") from None
    if mode == "markdown":
        raise bad_request("can't parse entities: legacy Markdown is not supported by the "
                          "emulator; use HTML or MarkdownV2")
    if mode:
        raise bad_request(f"unsupported parse_mode {parse_mode}")
    return text, []


class BotMethods:
    """Implementations of the Bot API methods; mixed into FakeBotAPI."""

    # ------------------------------------------------------------ helpers
    def _target_user(self, params: Params, *, for_send: bool = True) -> "FakeUser":
        chat_id = params.int("chat_id", required=True)
        user = self.users.get(chat_id) if isinstance(chat_id, int) else None
        if user is None:
            raise bad_request("chat not found")
        if user.deactivated:
            raise forbidden("user is deactivated")
        if user.blocked:
            raise forbidden("bot was blocked by the user")
        if for_send and not user.started:
            raise forbidden("bot can't initiate conversation with a user")
        return user

    def _parse_markup(self, params: Params) -> tuple[dict | None, list[list[str]] | None]:
        """Validate reply_markup; return (inline markup or None, reply keyboard texts or None)."""
        markup = params.json("reply_markup")
        if not markup:
            return None, None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or any(not isinstance(r, list) for r in rows):
                raise bad_request("field \"inline_keyboard\" of the InlineKeyboardMarkup "
                                  "must be an Array of Arrays")
            for row in rows:
                for button in row:
                    self._check_button(button)
            rows = [r for r in rows if r]
            return ({"inline_keyboard": rows} if rows else None), None
        if "keyboard" in markup:
            texts = [[b if isinstance(b, str) else b.get("text", "") for b in row]
                     for row in markup["keyboard"]]
            return None, texts
        return None, None  # remove_keyboard / force_reply

    @staticmethod
    def _check_button(button: Any) -> None:
        if not isinstance(button, dict) or not button.get("text"):
            raise bad_request("can't parse inline keyboard button: Text must be non-empty")
        actions = [k for k in _BUTTON_ACTIONS if k in button]
        if not actions:
            raise bad_request("can't parse inline keyboard button: Text buttons are unallowed "
                              "in the inline keyboard")
        if len(actions) > 1:
            raise bad_request("can't parse inline keyboard button: exactly one of the optional "
                              f"fields must be used, got {', '.join(actions)}")
        if "callback_data" in button:
            data = button["callback_data"]
            if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64:
                raise bad_request("BUTTON_DATA_INVALID")
        if "url" in button:
            url = button["url"]
            if not isinstance(url, str) or not re.match(r"^(https?|tg)://\S+$", url):
                raise bad_request(f"inline keyboard button URL '{url}' is invalid: "
                                  "Wrong HTTP URL")

    def _text(self, params: Params) -> tuple[str, str, list[dict]]:
        raw = params.str("text")
        if raw is None or raw == "":
            raise bad_request("message text is empty")
        plain, entities = _format(raw, params.str("parse_mode"))
        if not plain.strip():
            raise bad_request("message text is empty")
        if len(plain) > MAX_TEXT:
            raise bad_request("message is too long")
        return raw, plain, entities

    def _caption(self, params: Params) -> tuple[str | None, str | None, list[dict]]:
        raw = params.str("caption")
        if not raw:
            return None, None, []
        plain, entities = _format(raw, params.str("parse_mode"))
        if len(plain) > MAX_CAPTION:
            raise bad_request("message caption is too long")
        return raw, plain, entities

    def _rate_limit(self, params: Params, kind: str = "send") -> None:
        if not (self.enforce_rate_limits or self.count_rate_limits):
            return
        wait = self.rate_limiter.check(params.get("chat_id"), kind)
        if wait is None:
            return
        if not self.enforce_rate_limits:
            self.counters["over_limit"] += 1  # Telegram would have refused it
        else:
            self.counters["429"] += 1
            raise ApiError(429, f"Too Many Requests: retry after {wait}", retry_after=wait)

    def _deliver(self, user: "FakeUser", message: BotMessage, kind: str) -> dict:
        if kind == "sent":
            self.sent_messages.append(message)
        user._record(kind, message)
        self._notify()
        self._fire_hooks(user.id, message)
        return message.to_dict(self.bot_user, user.as_chat())

    def _new_bot_message(self, user: "FakeUser", params: Params, **fields: Any) -> BotMessage:
        inline, keyboard = self._parse_markup(params)
        msg = BotMessage(chat_id=user.id, message_id=self._next_message_id(user.id),
                         date=int(time.time()), reply_markup=inline, reply_keyboard=keyboard,
                         parse_mode=params.str("parse_mode"), **fields)
        reply = params.json("reply_parameters") or {}
        msg.reply_to_message_id = reply.get("message_id") or params.int("reply_to_message_id")
        return msg

    def _bot_message(self, user: "FakeUser", params: Params, missing: str) -> BotMessage:
        if params.get("inline_message_id"):
            raise bad_request("inline messages are not supported by the emulator")
        message_id = params.int("message_id")
        for m in user._messages:
            if m.message_id == message_id and not m.deleted:
                return m
        raise bad_request(missing)

    # ------------------------------------------------------------ methods
    def m_getMe(self, params: Params) -> dict:
        return {**self.bot_user, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False,
                "has_main_web_app": False}

    def m_logOut(self, params: Params) -> bool:
        return True

    def m_close(self, params: Params) -> bool:
        return True

    def m_sendMessage(self, params: Params) -> dict:
        user = self._target_user(params)
        raw, plain, entities = self._text(params)
        self._rate_limit(params)
        msg = self._new_bot_message(user, params, text=plain, html=raw, entities=entities,
                                    silent=params.bool("disable_notification"))
        return self._deliver(user, msg, "sent")

    def m_editMessageText(self, params: Params) -> dict:
        user = self._target_user(params, for_send=False)
        msg = self._bot_message(user, params, "message to edit not found")
        if msg.text is None:
            raise bad_request("there is no text in the message to edit")
        raw, plain, entities = self._text(params)
        inline, _ = self._parse_markup(params)
        if plain == msg.text and entities == msg.entities and inline == msg.reply_markup:
            raise bad_request(NOT_MODIFIED)
        self._rate_limit(params, "edit")  # Telegram's flood control limits edits too
        msg.text, msg.html, msg.entities, msg.reply_markup = plain, raw, entities, inline
        msg.parse_mode = params.str("parse_mode")
        return self._edited(user, msg)

    def m_editMessageCaption(self, params: Params) -> dict:
        user = self._target_user(params, for_send=False)
        msg = self._bot_message(user, params, "message to edit not found")
        if msg.text is not None:
            raise bad_request("there is no caption in the message to edit")
        raw, plain, entities = self._caption(params)
        inline, _ = self._parse_markup(params)
        if (plain == msg.caption and entities == msg.caption_entities
                and inline == msg.reply_markup):
            raise bad_request(NOT_MODIFIED)
        self._rate_limit(params, "edit")
        msg.caption, msg.caption_html, msg.caption_entities = plain, raw, entities
        msg.reply_markup = inline
        return self._edited(user, msg)

    def m_editMessageReplyMarkup(self, params: Params) -> dict:
        user = self._target_user(params, for_send=False)
        msg = self._bot_message(user, params, "message to edit not found")
        inline, _ = self._parse_markup(params)
        if inline == msg.reply_markup:
            raise bad_request(NOT_MODIFIED)
        self._rate_limit(params, "edit")
        msg.reply_markup = inline
        return self._edited(user, msg)

    def _edited(self, user: "FakeUser", msg: BotMessage) -> dict:
        msg.edited += 1
        msg.edit_date = int(time.time())
        return self._deliver(user, msg, "edited")

    def m_deleteMessage(self, params: Params) -> bool:
        user = self._target_user(params, for_send=False)
        message_id = params.int("message_id", required=True)
        for m in user._messages:
            if m.message_id == message_id and not m.deleted:
                m.deleted = True
                user._record("deleted", m)
                self._notify()
                return True
        for um in user.user_messages:
            if um["message_id"] == message_id and not um.get("_deleted"):
                um["_deleted"] = True
                return True
        raise bad_request("message to delete not found")

    def m_answerCallbackQuery(self, params: Params) -> bool:
        query_id = params.str("callback_query_id")
        entry = self.callback_queries.get(query_id or "")
        if entry is None or entry["answered"]:
            raise bad_request(QUERY_TOO_OLD)
        text = params.str("text")
        if text is not None and len(text) > MAX_CALLBACK_ANSWER:
            raise bad_request("MESSAGE_TOO_LONG")
        entry["answered"] = True
        user = self.users[entry["user_id"]]
        user._record_answer(CallbackAnswer(query_id, text, params.bool("show_alert"),
                                           params.str("url")))
        self._notify()
        return True

    def m_sendChatAction(self, params: Params) -> bool:
        user = self._target_user(params)
        action = params.str("action")
        if action not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        user.chat_actions.append(action)
        return True

    def _commands_key(self, params: Params) -> str:
        scope = params.json("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True) + "|" + (params.str("language_code") or "")

    def m_setMyCommands(self, params: Params) -> bool:
        commands = params.json("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("commands must be an array of at most 100 BotCommand")
        for c in commands:
            if not isinstance(c, dict) or not _COMMAND_RE.match(str(c.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(c.get("description", ""))) <= 256:
                raise bad_request("command description is empty" if not c.get("description")
                                  else "BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(params)] = [
            {"command": c["command"], "description": c["description"]} for c in commands]
        return True

    def m_getMyCommands(self, params: Params) -> list:
        return self.commands.get(self._commands_key(params), [])

    def m_deleteMyCommands(self, params: Params) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    # no-op settings a bot may call at start-up
    def m_setMyDescription(self, params: Params) -> bool:
        return True

    def m_setMyShortDescription(self, params: Params) -> bool:
        return True

    def m_setMyName(self, params: Params) -> bool:
        return True

    def _menu_key(self, params: Params) -> int | None:
        chat_id = params.int("chat_id")
        if chat_id is None:
            return None  # the bot's default menu button
        if not isinstance(chat_id, int) or chat_id not in self.users:
            raise bad_request("chat not found")
        return chat_id

    def m_setChatMenuButton(self, params: Params) -> bool:
        """Strict as Telegram: a MenuButton object of a known type; a web app button needs
        its text and an HTTPS URL (Telegram opens Mini Apps over HTTPS only; the wording of
        that refusal is ours)."""
        key = self._menu_key(params)
        button = params.json("menu_button") or {"type": "default"}
        if not isinstance(button, dict):
            raise bad_request("can't parse menu button: MenuButton must be an Object")
        kind = button.get("type")
        if kind not in ("commands", "web_app", "default"):
            raise bad_request("can't parse menu button: unsupported menu button type")
        if kind == "web_app":
            url = (button.get("web_app") or {}).get("url") if isinstance(
                button.get("web_app"), dict) else None
            if not button.get("text"):
                raise bad_request("can't parse menu button: text must be non-empty")
            if not isinstance(url, str) or not re.match(r"^https://[^\s/]+\S*$", url):
                raise bad_request("can't parse menu button: web app URL must be HTTPS")
            button = {"type": "web_app", "text": str(button["text"]), "web_app": {"url": url}}
        else:
            button = {"type": kind}
        self.menu_buttons[key] = button
        return True

    def m_getChatMenuButton(self, params: Params) -> dict:
        key = self._menu_key(params)
        return self.menu_buttons.get(key) or self.menu_buttons.get(None) or {"type": "commands"}

    def m_getChat(self, params: Params) -> dict:
        chat_id = params.int("chat_id", required=True)
        if isinstance(chat_id, int) and chat_id == self.bot_user["id"]:
            return {"id": chat_id, "type": "private", "first_name": self.bot_user["first_name"],
                    "username": self.bot_user["username"], "accent_color_id": 0,
                    "max_reaction_count": 11, "accepted_gift_types": self._gift_types()}
        user = self.users.get(chat_id) if isinstance(chat_id, int) else None
        if user is None:
            raise bad_request("chat not found")
        return {**user.as_chat(), "accent_color_id": 0, "max_reaction_count": 11,
                "accepted_gift_types": self._gift_types()}

    @staticmethod
    def _gift_types() -> dict:
        return {"unlimited_gifts": False, "limited_gifts": False, "unique_gifts": False,
                "premium_subscription": False, "gifts_from_channels": False}

    # ------------------------------------------------------------- files
    def _input_file(self, params: Params, name: str, kind: str, **meta: Any) -> Any:
        value = params.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            value = params.get(value[len("attach://"):])
        if isinstance(value, UploadedFile):
            if kind == "document":
                meta.setdefault("file_name", value.filename or "file")
                meta.setdefault("mime_type", value.content_type or "application/octet-stream")
            return self._store_file(kind, value.data, **meta)
        if isinstance(value, str) and value:
            if re.match(r"^https?://", value):
                return self._store_file(kind, b"", **meta)
            record = self.files.get(value)
            if record is None:
                raise bad_request("wrong file identifier/HTTP URL specified")
            return self._store_file(kind, record["data"], reuse=value, **meta)
        raise bad_request(f"there is no {name} in the request")

    def _send_media(self, params: Params, field: str, kind: str, **meta: Any) -> dict:
        user = self._target_user(params)
        raw, plain, entities = self._caption(params)
        info = self._input_file(params, field, kind, **meta)
        self._rate_limit(params)
        msg = self._new_bot_message(user, params, caption=plain, caption_html=raw,
                                    caption_entities=entities)
        setattr(msg, field, info)
        return self._deliver(user, msg, "sent")

    def m_sendDocument(self, params: Params) -> dict:
        return self._send_media(params, "document", "document")

    def m_sendPhoto(self, params: Params) -> dict:
        return self._send_media(params, "photo", "photo")

    def m_sendVoice(self, params: Params) -> dict:
        return self._send_media(params, "voice", "voice", mime_type="audio/ogg",
                                duration=params.int("duration", 1))

    def m_sendVideoNote(self, params: Params) -> dict:
        return self._send_media(params, "video_note", "video_note",
                                duration=params.int("duration", 1),
                                length=params.int("length", 240))

    def m_sendVideo(self, params: Params) -> dict:
        return self._send_media(params, "video", "video", duration=params.int("duration", 1))

    def m_getFile(self, params: Params) -> dict:
        file_id = params.str("file_id")
        record = self.files.get(file_id or "")
        if record is None:
            raise bad_request("invalid file_id")
        return {"file_id": file_id, "file_unique_id": record["file_unique_id"],
                "file_size": len(record["data"]), "file_path": record["file_path"]}
