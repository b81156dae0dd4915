"""The Bot API's HTTP client: python-telegram-bot's request interface on aiohttp.

python-telegram-bot sends every Bot API call through a ``BaseRequest``; its default,
``HTTPXRequest``, is httpx on httpcore on anyio. fosterbot already depends on aiohttp (the
webhook and health server, the web console, the emulator), and aiohttp's client does the
same job with a C parser and no anyio layer. Measured under a burst of reports
(``bench/report_throughput.py``; bench/RESULTS.md): the HTTP stack was about a sixth of the
bot's CPU per report with httpx; see RESULTS.md for what aiohttp saves.

``AiohttpRequest`` is a ``telegram.request.BaseRequest`` (python-telegram-bot documents
custom request classes as a supported extension point): python-telegram-bot still builds
the request, parses the answer and raises its own errors for Telegram's; this class only
moves bytes. What it keeps from ``HTTPXRequest``, so callers see no difference:

* the parameters as python-telegram-bot encodes them (form fields; multipart when the call
  carries files), and its User-Agent;
* the four time-outs, per call or the defaults given here (a call with files writing for
  up to ``media_write_timeout``, 20 s, as ``HTTPXRequest``). aiohttp has no separate write
  or pool time-out, so: ``connect`` bounds waiting for a free connection *and* opening one
  (pool + connect), ``sock_connect`` the TCP connect alone, ``sock_read`` each read, and
  the whole call is bounded by the sum of the four (``total``), so a stalled upload ends
  too; a time-out of None leaves its part, and the total, unbounded;
* errors: a time-out of any kind raises ``telegram.error.TimedOut``, any other failure of
  the connection ``telegram.error.NetworkError`` — both subclasses of NetworkError, which
  the outbox and the poller treat as "try again" (``bot/delivery/outbox.py``);
* a pool of ``connection_pool_size`` connections (aiohttp's connector limit);
* redirects not followed (a 3xx is returned as the answer);
* a proxy named in the environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``), as httpx
  honours it: a host that reaches Telegram only through a proxy keeps working. Looked up
  once per server with aiohttp's own rules, not by ``trust_env``, which would ask two
  worker threads on every call (the environment and ``~/.netrc``);
* TLS verified against the same certificate authorities, certifi's bundle (httpx's default;
  aiohttp's own default would be the system's store, which a slim container may lack).

Decision: one class for both clients — every call (``bot/app.py``) and getUpdates
(``UpdatesRequest`` in ``bot/runtime/updates_request.py``, which subclasses this one).
"""

from __future__ import annotations

import ssl

import aiohttp
import certifi
from aiohttp.helpers import get_env_proxy_for_url
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData
from yarl import URL


def _chosen(value: object, default: float | None) -> float | None:
    """A time-out given for this call (seconds, or None: no limit), or the default:
    python-telegram-bot passes a marker (``BaseRequest.DEFAULT_NONE``) when none was given."""
    return value if value is None or isinstance(value, int | float) else default


def _sum(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


class AiohttpRequest(BaseRequest):
    """python-telegram-bot's ``BaseRequest`` over one ``aiohttp.ClientSession``."""

    def __init__(self, connection_pool_size: int = 1, read_timeout: float | None = 5.0,
                 write_timeout: float | None = 5.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 1.0,
                 media_write_timeout: float | None = 20.0) -> None:
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be at least 1")
        self._pool_size = connection_pool_size
        self._media_write_timeout = media_write_timeout
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None
        # scheme://host:port -> the environment's proxy for it and its credentials
        self._proxies: dict[str, tuple[URL | None, aiohttp.BasicAuth | None]] = {}

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            trusted = ssl.create_default_context(cafile=certifi.where())
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size, ssl=trusted),
                headers={"User-Agent": self.USER_AGENT},
                # Telegram's answers are JSON: no cookies to keep.
                cookie_jar=aiohttp.DummyCookieJar(),
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _timeout(self, read: object, write: object, connect: object, pool: object,
                 files: bool = False) -> aiohttp.ClientTimeout:
        read_s = _chosen(read, self._read_timeout)
        write_s = _chosen(write, self._media_write_timeout if files else self._write_timeout)
        connect_s = _chosen(connect, self._connect_timeout)
        waiting = _sum(_chosen(pool, self._pool_timeout), connect_s)
        return aiohttp.ClientTimeout(total=_sum(waiting, _sum(write_s, read_s)),
                                     connect=waiting, sock_connect=connect_s, sock_read=read_s)

    def _proxy(self, url: str) -> tuple[URL | None, aiohttp.BasicAuth | None]:
        """The proxy the environment names for ``url``'s server (None: go direct)."""
        key = "/".join(url.split("/", 3)[:3])  # scheme://host:port, never the token's path
        found = self._proxies.get(key)
        if found is None:
            try:
                found = get_env_proxy_for_url(URL(url))
            except LookupError:
                found = (None, None)
            self._proxies[key] = found
        return found

    @staticmethod
    def _body(request_data: RequestData | None) -> aiohttp.FormData | dict | None:
        if request_data is None:
            return None
        fields = request_data.json_parameters
        if not request_data.contains_files:
            return fields  # form-encoded, as HTTPXRequest sends it
        form = aiohttp.FormData()
        for name, value in fields.items():
            form.add_field(name, value)
        for name, (filename, content, mimetype) in request_data.multipart_data.items():
            form.add_field(name, content, filename=filename, content_type=mimetype)
        return form

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        proxy, proxy_auth = self._proxy(url)
        try:
            async with self._session.request(
                method, url, data=self._body(request_data), proxy=proxy, proxy_auth=proxy_auth,
                allow_redirects=False,  # as httpx: an answer is Telegram's, not a hop
                timeout=self._timeout(read_timeout, write_timeout, connect_timeout, pool_timeout,
                                      files=bool(request_data and request_data.contains_files)),
            ) as response:
                return response.status, await response.read()
        except (TimeoutError, aiohttp.ServerTimeoutError) as err:
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{err.__class__.__name__}: {err}") from err
