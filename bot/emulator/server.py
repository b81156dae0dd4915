"""The fake Telegram Bot API HTTP server.

:class:`FakeBotAPI` speaks the Bot API over real HTTP (aiohttp) so the real
python-telegram-bot ``Bot``/``Application`` can be pointed at it with
``base_url``/``base_file_url``. It owns:

* the HTTP layer: ``/bot{token}/{method}`` (GET/POST, JSON, form or
  multipart), ``/file/bot{token}/{path}`` downloads, Telegram-shaped answers;
* the update queue, fetched with ``getUpdates`` (long polling, offsets) or
  pushed to a webhook (secret header, retried until the receiver answers 2xx),
  or through a round-robin balancer to several bot instances (``balance``), which
  health-checks them (``/healthz``) and skips one that is down;
* fault injection (fail/drop/delay the next calls) and optional rate limits;
* the simulated people (:mod:`bot.emulator.people`) and waiting helpers.

The Bot API methods themselves live in :mod:`bot.emulator.methods`.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import itertools
import json
import logging
import struct
import time
from collections import Counter
from typing import Any, Callable

import aiohttp
from aiohttp import web
from yarl import URL

from .faults import ApiError, Fault, FaultInjector, RateLimiter, bad_request
from .methods import BotMethods, Params, UploadedFile
from .people import BotMessage, FakeUser

__all__ = ["FakeBotAPI"]

log = logging.getLogger(__name__)

MessageHook = Callable[[int, BotMessage], Any]


class _Dropped(Exception):
    """Internal: close the connection without answering."""


class FakeBotAPI(BotMethods):
    """In-process fake of the Telegram Bot API. See the package docstring for the API."""

    def __init__(self, token: str = "123456:TEST", bot_username: str = "fosterbot_test_bot",
                 enforce_rate_limits: bool = False, bot_first_name: str = "Fosterbot",
                 count_rate_limits: bool = False) -> None:
        self.token = token
        self.bot_username = bot_username
        try:
            bot_id = int(token.split(":", 1)[0])
        except ValueError:
            bot_id = 123456
        self.bot_user = {"id": bot_id, "is_bot": True, "first_name": bot_first_name,
                         "username": bot_username}
        self.enforce_rate_limits = enforce_rate_limits
        # Limits checked but not enforced: a call Telegram would refuse goes through and is
        # counted in ``counters["over_limit"]`` (benchmarks: how far a client is over them).
        self.count_rate_limits = count_rate_limits
        self.rate_limiter = RateLimiter()
        self.faults = FaultInjector()
        self.users: dict[int, FakeUser] = {}
        self.calls: list[tuple[str, dict]] = []
        self.sent_messages: list[BotMessage] = []
        self.counters: Counter[str] = Counter()
        self.updates: list[dict] = []  # every update ever queued
        self.callback_queries: dict[str, dict] = {}
        self.commands: dict[str, list] = {}
        self.menu_buttons: dict[int | None, dict] = {}  # chat id (None: default) -> MenuButton
        self.files: dict[str, dict] = {}
        self._files_by_path: dict[str, dict] = {}
        self._pending: list[dict] = []  # updates not yet acknowledged by the bot
        self._redeliver: list[dict] = []
        self._update_ids = itertools.count(100001)
        self._query_ids = itertools.count(1)
        self._file_seq = itertools.count(1)
        self._msg_ids: dict[int, int] = {}
        self._hooks: list[MessageHook] = []
        self._hook_tasks: set[asyncio.Task] = set()
        self._changed: asyncio.Event | None = None
        self._inflight = 0
        self._last_activity = time.monotonic()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self.webhook: dict[str, Any] | None = None
        self._webhook_task: asyncio.Task | None = None
        self._session: aiohttp.ClientSession | None = None
        # A round-robin balancer in front of several instances (``balance``).
        self.backends: list[str] = []
        self._backend_turn = itertools.count()
        self.backends_down: set[str] = set()  # failed their health check or refused a POST
        self.health_interval = 1.0
        self._posting: set[int] = set()  # ids of updates being POSTed (balanced mode)
        # Redelivered copies by id (kept, so an id is never reused): they do not wait for
        # their chat's update in flight.
        self._again: dict[int, dict] = {}
        self._post_tasks: set[asyncio.Task] = set()
        self.webhook_log: list[tuple[int, int, str, int]] = []  # (update, chat, backend, status)
        self._methods = {name[2:].lower(): (name[2:], getattr(self, name))
                         for name in dir(self) if name.startswith("m_")}

    # ------------------------------------------------------------- lifecycle
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> "FakeBotAPI":
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self._host = host
        self._port = self._runner.addresses[0][1]
        self._closing = False
        return self

    async def stop(self) -> None:
        self._closing = True
        self._notify()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            await asyncio.gather(self._webhook_task, return_exceptions=True)
            self._webhook_task = None
        for task in list(self._post_tasks):
            task.cancel()
        await asyncio.gather(*self._post_tasks, return_exceptions=True)
        if self._hook_tasks:
            await asyncio.gather(*self._hook_tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "FakeBotAPI":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeBotAPI is not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ------------------------------------------------------------- people
    def user(self, user_id: int, first_name: str, username: str | None = None,
             **kwargs: Any) -> FakeUser:
        """Create (or return the existing) simulated user; private chat id == user id."""
        existing = self.users.get(user_id)
        if existing is not None:
            return existing
        user = FakeUser(self, user_id, first_name, username, **kwargs)
        self.users[user_id] = user
        return user

    def block(self, user_id: int) -> None:
        """The user blocks the bot: sends get 403 "bot was blocked by the user"."""
        self.users[user_id].blocked = True

    def unblock(self, user_id: int) -> None:
        self.users[user_id].blocked = False

    def deactivate(self, user_id: int) -> None:
        """The user deletes their account: sends get 403 "user is deactivated"."""
        self.users[user_id].deactivated = True

    def on_message(self, callback: MessageHook) -> None:
        """Call ``callback(chat_id, message)`` (sync or async) whenever the bot sends/edits."""
        self._hooks.append(callback)

    # -------------------------------------------------------- fault injection
    def fail_next(self, method: str, *, status: int = 500,
                  description: str = "Internal Server Error", retry_after: int | None = None,
                  times: int = 1, chat_id: int | str | None = None) -> None:
        """Answer the next *times* calls of *method* (to *chat_id*) with an error."""
        if retry_after is not None and status == 500 and description == "Internal Server Error":
            status, description = 429, f"Too Many Requests: retry after {retry_after}"
        self.faults.add(Fault("fail", method, times, chat_id, status, description, retry_after))

    def drop_next(self, method: str, times: int = 1, chat_id: int | str | None = None, *,
                  after_processing: bool = False) -> None:
        """Close the connection of the next *times* calls without an HTTP response.

        With ``after_processing=True`` the method is executed first (e.g. the
        message *is* sent) and only the response is lost.
        """
        self.faults.add(Fault("drop", method, times, chat_id, after_processing=after_processing))

    def delay_next(self, method: str, seconds: float, times: int = 1,
                   chat_id: int | str | None = None) -> None:
        """Hold the next *times* calls of *method* for *seconds* before processing them."""
        self.faults.add(Fault("delay", method, times, chat_id, seconds=seconds))

    def push_unreadable_update(self, body: dict | None = None) -> int:
        """Queue an update the bot cannot parse (a fault); returns its update id.

        The default is a message without the fields every message has."""
        if body is None:
            body = {"message": {"text": "?"}}
        return self._queue_update(body)["update_id"]

    def clear_faults(self) -> None:
        self.faults.clear()

    # -------------------------------------------------------------- waiting
    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def _wait_change(self, timeout: float) -> None:
        if self._changed is None:
            self._changed = asyncio.Event()
        try:
            await asyncio.wait_for(self._changed.wait(), max(timeout, 0))
        except asyncio.TimeoutError:
            pass

    async def _wait_until(self, check: Callable[[], Any], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._closing:
                return None
            await self._wait_change(remaining)

    async def wait_idle(self, timeout: float = 5.0, quiet: float = 0.05) -> None:
        """Return once every queued update was acknowledged by the bot and no request
        has been in flight for *quiet* seconds (parked long polls don't count)."""
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            if (not self._pending and not self._redeliver and self._inflight == 0
                    and now - self._last_activity >= quiet):
                return
            if now > deadline:
                raise AssertionError(
                    f"emulator not idle after {timeout}s: {len(self._pending)} unacknowledged "
                    f"updates, {self._inflight} requests in flight"
                )
            await asyncio.sleep(0.01)

    def _fire_hooks(self, chat_id: int, message: BotMessage) -> None:
        for hook in self._hooks:
            try:
                result = hook(chat_id, message)
            except Exception:  # pragma: no cover - a broken hook must not break the API
                log.exception("on_message hook failed")
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._hook_tasks.add(task)
                task.add_done_callback(self._hook_tasks.discard)

    # ------------------------------------------------------------- updates
    def _queue_update(self, body: dict) -> dict:
        update = {"update_id": next(self._update_ids), **body}
        self.updates.append(update)
        self._pending.append(update)
        self._notify()
        return update

    def _next_message_id(self, chat_id: int) -> int:
        self._msg_ids[chat_id] = self._msg_ids.get(chat_id, 0) + 1
        return self._msg_ids[chat_id]

    def _find_message(self, chat_id: int, message_id: int) -> dict | None:
        user = self.users.get(chat_id)
        if user is None:
            return None
        for m in user._messages:
            if m.message_id == message_id:
                return m.to_dict(self.bot_user, user.as_chat())
        for um in user.user_messages:
            if um["message_id"] == message_id:
                return {k: v for k, v in um.items() if not k.startswith("_")}
        return None

    def _new_callback_query(self, user_id: int) -> str:
        query_id = f"{user_id}{next(self._query_ids):06d}"
        self.callback_queries[query_id] = {"user_id": user_id, "answered": False}
        return query_id

    def unconfirmed_update_ids(self) -> list[int]:
        """Updates not yet confirmed by a getUpdates offset (fetched or not)."""
        return [u["update_id"] for u in self._pending]

    async def m_getUpdates(self, params: Params) -> list:
        if self.webhook:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = params.int("offset", 0)
        limit = max(1, min(100, params.int("limit", 100)))
        timeout = max(0, params.int("timeout", 0))

        def collect() -> list:
            if offset < 0:
                keep = self._pending[offset:]
                self._pending[:] = keep
            elif offset:
                self._pending[:] = [u for u in self._pending if u["update_id"] >= offset]
            forced, self._redeliver[:] = self._redeliver[:limit], self._redeliver[limit:]
            return forced + self._pending[: limit - len(forced)]

        result = collect()
        self._notify()  # acknowledgements may make wait_idle/whoever progress
        if result or timeout == 0:
            return result
        self._inflight -= 1  # a parked long poll is not "work in flight"
        try:
            result = await self._wait_until(collect, timeout) or []
        finally:
            self._inflight += 1
            self._last_activity = time.monotonic()
        return result

    # -------------------------------------------------------------- webhook
    def m_setWebhook(self, params: Params) -> bool:
        url = params.str("url") or ""
        if not url:
            return self.m_deleteWebhook(params)
        if not url.startswith(("http://", "https://")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.str("secret_token")
        if secret is not None and not (1 <= len(secret) <= 256
                                       and all(c.isalnum() or c in "_-" for c in secret)):
            raise bad_request("secret token contains unallowed characters")
        if params.bool("drop_pending_updates"):
            self._pending.clear()
        self.webhook = {"url": url, "secret_token": secret,
                        "max_connections": params.int("max_connections", 40),
                        "allowed_updates": params.json("allowed_updates"),
                        "last_error_date": None, "last_error_message": None}
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.ensure_future(self._webhook_worker())
        self._notify()
        return True

    def m_deleteWebhook(self, params: Params) -> bool:
        self.webhook = None
        if params.bool("drop_pending_updates"):
            self._pending.clear()
        self._notify()
        return True

    def m_getWebhookInfo(self, params: Params) -> dict:
        info: dict[str, Any] = {"url": "", "has_custom_certificate": False,
                                "pending_update_count": len(self._pending)}
        if self.webhook:
            info["url"] = self.webhook["url"]
            info["max_connections"] = self.webhook["max_connections"]
            if self.webhook["allowed_updates"] is not None:
                info["allowed_updates"] = self.webhook["allowed_updates"]
            if self.webhook["last_error_date"]:
                info["last_error_date"] = self.webhook["last_error_date"]
                info["last_error_message"] = self.webhook["last_error_message"]
        return info

    async def _post_update(self, update: dict, url: str | None = None) -> int:
        """POST one update to the webhook (or ``url``, a backend behind the balancer); return
        the HTTP status (0 if unreachable)."""
        assert self.webhook is not None
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        headers = {"Content-Type": "application/json"}
        if self.webhook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook["secret_token"]
        self.counters["webhook_attempts"] += 1
        try:
            async with self._session.post(url or self.webhook["url"], data=json.dumps(update),
                                          headers=headers) as resp:
                await resp.read()
                status = resp.status
                error = f"Wrong response from the webhook: {resp.status} {resp.reason}"
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as err:
            status, error = 0, f"Connection failed: {err.__class__.__name__}"
        if not 200 <= status < 300 and self.webhook is not None:
            self.counters["webhook_failures"] += 1
            self.webhook["last_error_date"] = int(time.time())
            self.webhook["last_error_message"] = error
        return status

    def balance(self, backends: list[str], *, health_interval: float = 1.0) -> None:
        """Put a round-robin load balancer between the webhook and several bot instances:
        each POST goes to the next of ``backends`` (the URL given to setWebhook is then only
        the balancer's). As Telegram does, one chat's updates are delivered one after
        another — the next only once the previous was answered 2xx — while different chats
        are delivered at once, up to the webhook's ``max_connections``.

        Health checks, as a real balancer's: every ``health_interval`` seconds each backend's
        ``/healthz`` (same host and port) is asked; one that does not answer 2xx is skipped
        until it does again, and so is one that refused a POST's connection (marked down at
        once, back when its check passes). A POST refused (connection) or answered 5xx is sent
        again at once to the next backend in turn. When every backend is down the balancer
        tries them all in turn, as nginx does, rather than refuse everything."""
        self.backends = list(backends)
        self.backends_down.clear()
        self.health_interval = health_interval
        self._notify()

    def _next_backend(self) -> str:
        """The next backend in turn that is not down (any, in turn, when all are)."""
        n = len(self.backends)
        for _ in range(n):
            url = self.backends[next(self._backend_turn) % n]
            if url not in self.backends_down:
                return url
        return self.backends[next(self._backend_turn) % n]

    async def _check_health(self) -> None:
        """Ask each backend's ``/healthz``, every ``health_interval`` seconds (see ``balance``)."""
        while not self._closing:
            if self._session is None:
                self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
            for url in list(self.backends):
                healthy = await self._healthy(url)
                if healthy:
                    self.backends_down.discard(url)
                elif url not in self.backends_down:
                    self.backends_down.add(url)
                    self.counters["backend_down"] += 1
            await asyncio.sleep(self.health_interval)

    async def _healthy(self, url: str) -> bool:
        health = str(URL(url).with_path("/healthz").with_query(None))
        try:
            async with self._session.get(  # type: ignore[union-attr]
                    health, timeout=aiohttp.ClientTimeout(total=max(1.0, self.health_interval))
            ) as resp:
                await resp.read()
                return 200 <= resp.status < 300
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False

    async def _webhook_worker(self) -> None:
        if self.backends:
            await self._balanced_worker()
            return
        backoff = 0.05
        while not self._closing:
            if not self.webhook or not (self._pending or self._redeliver):
                await self._wait_change(1.0)
                continue
            forced = bool(self._redeliver)
            update = self._redeliver[0] if forced else self._pending[0]
            self._inflight += 1
            try:
                status = await self._post_update(update)
            finally:
                self._inflight -= 1
                self._last_activity = time.monotonic()
            if 200 <= status < 300:
                backoff = 0.05
                queue = self._redeliver if forced else self._pending
                if queue and queue[0] is update:
                    queue.pop(0)
                self._notify()
            else:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)

    async def _balanced_worker(self) -> None:
        health = asyncio.ensure_future(self._check_health())
        try:
            await self._balance_updates()
        finally:
            health.cancel()
            await asyncio.gather(health, return_exceptions=True)

    async def _balance_updates(self) -> None:
        busy_chats: set[Any] = set()
        while not self._closing:
            limit = (self.webhook or {}).get("max_connections") or 40
            pick = None
            if self.webhook and len(self._post_tasks) < limit:
                for update in self._redeliver + self._pending:
                    chat = _chat_of(update)
                    again = id(update) in self._again
                    if id(update) in self._posting or (chat in busy_chats and not again):
                        continue
                    pick = update, (None if again else chat)
                    break
            if pick is None:
                await self._wait_change(0.5)
                continue
            update, chat = pick
            if chat is not None:
                busy_chats.add(chat)
            self._posting.add(id(update))
            task = asyncio.ensure_future(self._post_balanced(update, chat, busy_chats))
            self._post_tasks.add(task)
            task.add_done_callback(self._post_tasks.discard)

    async def _post_balanced(self, update: dict, chat: Any, busy_chats: set) -> None:
        self._inflight += 1
        try:
            for attempt in range(len(self.backends)):  # each backend once at most, then later
                if attempt:
                    self.counters["webhook_rerouted"] += 1
                url = self._next_backend()
                status = await self._post_update(update, url)
                self.webhook_log.append((update["update_id"], _chat_of(update), url, status))
                if 200 <= status < 300:
                    for queue in (self._redeliver, self._pending):
                        kept = [u for u in queue if u is not update]
                        if len(kept) < len(queue):
                            queue[:] = kept
                            break
                    return
                if status == 0 and url not in self.backends_down:  # refused: down at once
                    self.backends_down.add(url)
                    self.counters["backend_down"] += 1
            await asyncio.sleep(0.05)  # every backend failed it: the worker sends it again
        finally:
            self._inflight -= 1
            self._last_activity = time.monotonic()
            self._posting.discard(id(update))
            busy_chats.discard(chat)
            self._notify()

    async def redeliver(self, update_id: int) -> None:
        """Deliver an already delivered update again (as Telegram does after a lost ack).

        Webhook mode: it is POSTed again; polling: the next getUpdates returns it
        again, whatever the offset. Behind the balancer it does not wait for its chat's
        update in flight (Telegram resends after a time-out, answered or not), so the
        two may reach two instances at once.
        """
        update = next((u for u in self.updates if u["update_id"] == update_id), None)
        if update is None:
            raise KeyError(f"no update {update_id}")
        update = dict(update)  # a copy: sent as well as (even at the same time as) the first
        self._again[id(update)] = update
        self._redeliver.append(update)
        self._notify()

    # ---------------------------------------------------------------- files
    def _store_file(self, kind: str, data: bytes, reuse: str | None = None,
                    **meta: Any) -> Any:
        unique = "AgAD" + hashlib.sha1(data).hexdigest()[:12]
        if reuse is not None:
            file_id = reuse
            # Telegram keeps a file's name and type when it is sent again by file id.
            meta = {**self.files.get(reuse, {}).get("meta", {}), **meta}
        else:
            n = next(self._file_seq)
            file_id = f"FAKE-{kind}-{n}-{hashlib.sha1(f'{n}{unique}'.encode()).hexdigest()[:16]}"
            ext = {"photo": "jpg", "voice": "oga", "video_note": "mp4"}.get(kind, "bin")
            name = meta.get("file_name")
            if name and "." in name:
                ext = name.rsplit(".", 1)[1]
            record = {"data": data, "file_unique_id": unique,
                      "file_path": f"{kind}s/file_{n}.{ext}", "meta": dict(meta)}
            self.files[file_id] = record
            self._files_by_path[record["file_path"]] = record
        info = {"file_id": file_id, "file_unique_id": unique, "file_size": len(data), **meta}
        if kind == "photo":
            width, height = _image_size(data)
            return [{**info, "width": width, "height": height}]
        return info

    # ---------------------------------------------------------------- HTTP
    async def _read_params(self, request: web.Request) -> Params:
        params = Params(request.query)
        if request.method != "POST" or not request.body_exists:
            return params
        ctype = request.content_type
        if ctype == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
        elif ctype.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if part.name is None:
                    continue
                if part.filename is not None:
                    data = await part.read()
                    params[part.name] = UploadedFile(bytes(data), part.filename,
                                                     part.headers.get("Content-Type"))
                else:
                    params[part.name] = await part.text()
        else:
            params.update(await request.post())
        return params

    @staticmethod
    def _json(body: dict, status: int = 200) -> web.Response:
        # Compact, as Telegram answers.
        return web.Response(text=json.dumps(body, separators=(",", ":")), status=status,
                            content_type="application/json")

    async def _handle_method(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return self._json({"ok": False, "error_code": 401, "description": "Unauthorized"},
                              401)
        found = self._methods.get(request.match_info["method"].lower())
        if found is None:
            return self._json({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        name, impl = found
        self._inflight += 1
        self._last_activity = time.monotonic()
        try:
            params = await self._read_params(request)
            self.calls.append((name, params))
            self.counters[name] += 1
            delay = self.faults.take(name, params, ("delay",))
            if delay is not None:
                await asyncio.sleep(delay.seconds)
            fault = self.faults.take(name, params, ("fail", "drop"))
            if fault is not None and fault.kind == "fail":
                self.counters["injected_failures"] += 1
                return self._json(ApiError(fault.status, fault.description,
                                           fault.retry_after).payload(), fault.status)
            if fault is not None and not fault.after_processing:
                return self._drop(request)
            try:
                result = impl(params)
                if inspect.isawaitable(result):
                    result = await result
                body, status = {"ok": True, "result": result}, 200
            except ApiError as err:
                self.counters["errors"] += 1
                body, status = err.payload(), err.status
            if fault is not None:
                return self._drop(request)
            return self._json(body, status)
        finally:
            self._inflight -= 1
            self._last_activity = time.monotonic()

    def _drop(self, request: web.Request) -> web.StreamResponse:
        self.counters["dropped"] += 1
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)  # never reaches the client

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return self._json({"ok": False, "error_code": 401, "description": "Unauthorized"},
                              401)
        record = self._files_by_path.get(request.match_info["path"])
        if record is None:
            return self._json({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        return web.Response(body=record["data"], content_type="application/octet-stream")


def _chat_of(update: dict) -> Any:
    """The chat an update belongs to (its sender when it has no chat)."""
    for field in ("message", "edited_message", "callback_query", "my_chat_member"):
        body = update.get(field)
        if isinstance(body, dict):
            chat = (body.get("message") or {}).get("chat") or body.get("chat") or {}
            return chat.get("id") or (body.get("from") or {}).get("id")
    return None


def _image_size(data: bytes) -> tuple[int, int]:
    """Width/height of a PNG or JPEG (320x240 when unknown)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                break
            marker, size = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                h, w = struct.unpack(">HH", data[i + 5:i + 9])
                return w, h
            i += 2 + size
    return 320, 240
