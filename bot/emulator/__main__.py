"""Run the fake Bot API standalone: ``python -m bot.emulator --port 8081 --token T``.

Prints the base URLs to point a bot at, and a line per message the bot sends.
Type lines on stdin to act as users::

    1001 /start           user 1001 sends "/start"
    1001 click Yes        user 1001 presses the inline button labelled "Yes"

Stop with Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from .server import FakeBotAPI


async def _serve(args: argparse.Namespace) -> None:
    fake = FakeBotAPI(args.token, bot_username=args.username,
                      enforce_rate_limits=args.rate_limits)
    await fake.start(args.host, args.port)
    fake.on_message(lambda chat_id, m: print(f"[chat {chat_id}] #{m.message_id} "
                                             f"{'(edited) ' if m.edited else ''}{m.describe()}",
                                             flush=True))
    print(f"base_url={fake.base_url}", flush=True)
    print(f"base_file_url={fake.base_file_url}", flush=True)
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, input_line)
            if line is None:  # stdin closed: keep serving until interrupted
                await asyncio.Event().wait()
            await _act(fake, line)
    finally:
        await fake.stop()


def input_line() -> str | None:
    try:
        return input()
    except EOFError:
        return None


async def _act(fake: FakeBotAPI, line: str) -> None:
    parts = line.strip().split(maxsplit=1)
    if len(parts) < 2 or not parts[0].lstrip("-").isdigit():
        print("usage: <user_id> <text> | <user_id> click <label>", flush=True)
        return
    user = fake.user(int(parts[0]), f"User{parts[0]}")
    rest = parts[1]
    try:
        if rest.startswith("click "):
            await user.click(rest[len("click "):])
        else:
            await user.send(rest)
    except AssertionError as err:
        print(err, flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.emulator",
                                     description="Fake Telegram Bot API server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default="123456:TEST")
    parser.add_argument("--username", default="fosterbot_test_bot")
    parser.add_argument("--rate-limits", action="store_true", help="enforce flood limits (429)")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
