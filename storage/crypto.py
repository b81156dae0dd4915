"""Encryption at rest of free text and kept files, with keys from the environment.

``FOSTERBOT_DATA_KEYS`` holds one or more ``id:base64key`` entries separated by
commas or white space; each key is 32 random bytes (AES-256-GCM, an AEAD from
``cryptography``). The **first** entry encrypts new writes; the others are only
read, so a key is rotated by putting a new one first and running ``fosterbot
keys rotate`` (``storage.keys``), after which the old one can be removed.
``fosterbot keys new ID`` prints a fresh entry.

Columns declared :class:`EncryptedText` or :class:`EncryptedJSON` are
encrypted on the way into the database and decrypted on the way out, so the
rest of the code sees plain text. A stored value is one string::

    enc:v1:<key id>:<base64url(12-byte nonce + ciphertext + tag)>

(a JSON column stores that string as a JSON string). The column's name is the
associated data, so a value copied into another column does not decrypt.

* **No key configured**: values are stored as they are (the quick start and
  the demo); ``fosterbot run`` warns at start, or refuses with
  ``storage.require_encryption = true``. A plain value that happens to start
  with ``enc:`` or ``raw:`` is stored as ``raw:`` + value so it is never taken
  for ciphertext.
* **Plain values written before a key was configured** are read as they are and
  encrypted by ``fosterbot keys rotate``.
* **A value under a key id not configured**, or one that does not decrypt (wrong
  key, altered ciphertext), raises :class:`DataKeyError` naming the column and
  the key id: never garbage, never a silent fallback.

Kept files use the same keys: ``FBENC1`` + key-id length + key id + nonce +
ciphertext, with the header as associated data.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import JSON, Text, TypeDecorator

from storage import files

ENV = "FOSTERBOT_DATA_KEYS"
CREDENTIAL = "data-keys"  # or a systemd credential of this name (deploy/fosterbot.service)
PREFIX = "enc:v1:"
RAW = "raw:"
FILE_MAGIC = b"FBENC1"
NONCE = 12
KEY_BYTES = 32
_KID = re.compile(r"[A-Za-z0-9_-]{1,32}")


class DataKeyError(Exception):
    """A stored value cannot be read with the keys configured (or the keys are malformed)."""


def _b64decode(text: str) -> bytes:
    text = text.strip()
    padded = text + "=" * (-len(text) % 4)
    if re.fullmatch(r"[A-Za-z0-9+/=]*", padded):
        return base64.b64decode(padded, validate=True)
    return base64.urlsafe_b64decode(padded)


@dataclass(frozen=True)
class Keyring:
    """The data keys in order: the first encrypts, all decrypt."""

    keys: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> "Keyring":
        """``id:base64key`` entries (comma or space separated); errors never print a key."""
        keys: dict[str, bytes] = {}
        entries = [e for e in re.split(r"[,\s]+", text or "") if e]
        for n, entry in enumerate(entries, 1):
            kid, sep, b64 = entry.partition(":")
            if not sep or not _KID.fullmatch(kid):
                raise DataKeyError(f"{ENV}: entry {n} must be ID:BASE64KEY with an id of 1-32 "
                                   "of A-Z a-z 0-9 _ -")
            try:
                key = _b64decode(b64)
            except (binascii.Error, ValueError):
                raise DataKeyError(f"{ENV}: key '{kid}' is not valid base64") from None
            if len(key) != KEY_BYTES:
                raise DataKeyError(f"{ENV}: key '{kid}' is {len(key)} bytes; it must be "
                                   f"{KEY_BYTES} (make one with: fosterbot keys new {kid})")
            if kid in keys:
                raise DataKeyError(f"{ENV}: key id '{kid}' appears twice")
            keys[kid] = key
        return cls(keys)

    @property
    def current(self) -> str | None:
        return next(iter(self.keys), None)

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def _aead(self, kid: str, where: str) -> AESGCM:
        key = self.keys.get(kid)
        if key is None:
            known = ", ".join(self.keys) or "none"
            raise DataKeyError(f"{where} is encrypted with key id '{kid}', which is not in "
                               f"{ENV} (configured: {known}); add that key to read it")
        return AESGCM(key)

    # -- text ----------------------------------------------------------------------
    def seal_text(self, plain: str, purpose: str) -> str:
        kid = self.current
        if kid is None:
            return RAW + plain if plain.startswith((PREFIX[:4], RAW)) else plain
        nonce = os.urandom(NONCE)
        ct = AESGCM(self.keys[kid]).encrypt(nonce, plain.encode("utf-8"), _aad(kid, purpose))
        return f"{PREFIX}{kid}:{base64.urlsafe_b64encode(nonce + ct).decode('ascii')}"

    def open_text(self, stored: str, purpose: str) -> str:
        if stored.startswith(RAW):
            return stored[len(RAW):]
        if not stored.startswith(PREFIX):
            return stored  # written before encryption was configured
        kid, _, body = stored[len(PREFIX):].partition(":")
        aead = self._aead(kid, f"a value of {purpose}")
        try:
            blob = base64.urlsafe_b64decode(body)
            return aead.decrypt(blob[:NONCE], blob[NONCE:], _aad(kid, purpose)).decode("utf-8")
        except (InvalidTag, binascii.Error, ValueError):
            raise DataKeyError(f"a value of {purpose} does not decrypt with key '{kid}': the key "
                               "is not the one it was written with, or the value was altered"
                               ) from None

    # -- files ---------------------------------------------------------------------
    def seal_bytes(self, data: bytes) -> bytes:
        """A kept file's bytes as stored (unchanged when no key is configured)."""
        kid = self.current
        if kid is None:
            return data
        header = FILE_MAGIC + bytes([len(kid)]) + kid.encode("ascii")
        nonce = os.urandom(NONCE)
        return header + nonce + AESGCM(self.keys[kid]).encrypt(nonce, data, header)

    def open_bytes(self, stored: bytes, where: str = "a kept file") -> bytes:
        kid = file_key_id(stored)
        if kid is None:
            return stored
        header_len = len(FILE_MAGIC) + 1 + len(kid)
        aead = self._aead(kid, where)
        nonce = stored[header_len:header_len + NONCE]
        try:
            return aead.decrypt(nonce, stored[header_len + NONCE:], stored[:header_len])
        except InvalidTag:
            raise DataKeyError(f"{where} does not decrypt with key '{kid}': the key is not the "
                               "one it was written with, or the file was altered") from None


def _aad(kid: str, purpose: str) -> bytes:
    return f"fosterbot:{purpose}:{kid}".encode()


def text_key_id(stored: str | None) -> str | None:
    """The key id a stored text value is under (None: stored plain)."""
    if not stored or not stored.startswith(PREFIX):
        return None
    return stored[len(PREFIX):].partition(":")[0]


def file_key_id(stored: bytes) -> str | None:
    """The key id a kept file is under (None: stored plain)."""
    if not stored.startswith(FILE_MAGIC) or len(stored) <= len(FILE_MAGIC):
        return None
    n = stored[len(FILE_MAGIC)]
    return stored[len(FILE_MAGIC) + 1:len(FILE_MAGIC) + 1 + n].decode("ascii", "replace")


def new_key_entry(kid: str) -> str:
    if not _KID.fullmatch(kid):
        raise DataKeyError("a key id is 1-32 of A-Z a-z 0-9 _ -")
    return f"{kid}:{base64.b64encode(os.urandom(KEY_BYTES)).decode('ascii')}"


# -- the process's keyring ---------------------------------------------------------

_installed: Keyring | None = None


def keyring() -> Keyring:
    """The keys of this process: read from ``FOSTERBOT_DATA_KEYS`` on first use."""
    global _installed
    if _installed is None:
        _installed = Keyring.parse(os.environ.get(ENV) or files.credential(CREDENTIAL))
    return _installed


def install(ring: Keyring | None) -> None:
    """Use these keys from now on (None: read the environment again on next use)."""
    global _installed
    _installed = ring


# -- column types --------------------------------------------------------------------

class EncryptedText(TypeDecorator[str]):
    """Text encrypted at rest under the process's current data key."""

    impl = Text
    cache_ok = True

    def __init__(self, purpose: str) -> None:
        super().__init__()
        self.purpose = purpose

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else keyring().seal_text(value, self.purpose)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else keyring().open_text(value, self.purpose)


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON document encrypted at rest: stored as a JSON string holding the envelope
    (a plain JSON object when no key is configured, as before)."""

    impl = JSON
    cache_ok = True

    def __init__(self, purpose: str) -> None:
        super().__init__()
        self.purpose = purpose

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        ring = keyring()
        if value is None or not ring.enabled:
            return value
        return ring.seal_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")),
                              self.purpose)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if isinstance(value, str):
            return json.loads(keyring().open_text(value, self.purpose))
        return value
