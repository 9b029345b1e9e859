"""Keys derived from one master key; AES-256-GCM for personal numbers, HMAC-SHA-256 blind indexes.

Every purpose gets its own key (HKDF with the purpose as ``info``), so a leak of
one derived key — say the blind-index key — opens nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MASTER_KEY_FILE = "master.key"
KEY_BYTES = 32
NONCE_BYTES = 12
# The first byte of every sealed value names the key generation, so a re-encryption can tell old from new.
SEAL_VERSION = b"\x01"


class MasterKeyError(ValueError):
    """The key file is unusable; the message names it."""


def load_master_key(configured: str | None, data_dir: Path) -> bytes:
    """``VH_MASTER_KEY`` (32 bytes in base64, validated by the settings), else the key file in ``data_dir``, created on first start (0600)."""
    if configured:
        return base64.b64decode(configured)  # checked by the settings
    path = data_dir / MASTER_KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two instances starting at once cannot both write a key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = base64.b64decode(path.read_text().strip())
        if len(key) != KEY_BYTES:
            raise MasterKeyError(f"key file {path}: must hold {KEY_BYTES} bytes in base64") from None
        return key
    key = secrets.token_bytes(KEY_BYTES)
    with os.fdopen(fd, "w") as file:
        file.write(base64.b64encode(key).decode() + "\n")
    return key


def replace_key_file(data_dir: Path, key: bytes) -> None:
    """Swap the key file for one holding ``key``, atomically and again readable by the owner only."""
    path = data_dir / MASTER_KEY_FILE
    fresh = path.with_suffix(".new")
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(base64.b64encode(key).decode() + "\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(fresh, path)


class Keyring:
    """The keys of one deployment, all derived from its master key."""

    def __init__(self, master_key: bytes) -> None:
        self._master = master_key
        self._derived: dict[str, bytes] = {}
        self._aead = AESGCM(self.derive("field-encryption"))
        self._index_key = self.derive("blind-index")

    def derive(self, purpose: str) -> bytes:
        if purpose not in self._derived:
            self._derived[purpose] = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                                          info=f"vhotel:{purpose}".encode()).derive(self._master)
        return self._derived[purpose]

    def seal(self, plaintext: str, context: str) -> bytes:
        """Encrypt; ``context`` (table, column, row) is bound as associated data, so a
        ciphertext copied into another row or column no longer decrypts."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        return SEAL_VERSION + nonce + self._aead.encrypt(nonce, plaintext.encode(), context.encode())

    def open(self, sealed: bytes, context: str) -> str:
        nonce, ciphertext = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        return self._aead.decrypt(nonce, ciphertext, context.encode()).decode()

    def blind_index(self, kind: str, value: str) -> bytes:
        """A keyed hash for exact lookup: equal numbers match, the number itself cannot be read back."""
        return hmac.new(self._index_key, f"{kind}:{value}".encode(), hashlib.sha256).digest()


def mask(number: str) -> str:
    """First 3 and last 4 characters, the rest starred: a phone as landlords and desks see it."""
    if len(number) <= 7:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


# Characters kept at the start and at the end, per document type. A resident ID's first 3 name
# a province and city, its last 4 are what a desk reads back; the short permits and passports keep
# their letter and two digits, as "first 3, last 4" left 7 of a Taiwan permit's 8 digits readable.
SHOWN_BY_TYPE: dict[str, tuple[int, int]] = {
    "resident_id": (3, 4),
    "foreign_permanent_residence": (3, 4),
    "passport": (1, 2),
    "hk_macao_permit": (1, 2),
    "taiwan_permit": (1, 2),
}


def mask_document(document_type: str, number: str) -> str:
    """A document number as landlords, desks and receipt holders see it: never more than half of it readable."""
    head, tail = SHOWN_BY_TYPE.get(document_type, (1, 2))
    while head + tail > len(number) // 2:  # a short number gives up its head first
        head, tail = (head - 1, tail) if head else (head, tail - 1)
    return number[:head] + "*" * (len(number) - head - tail) + number[len(number) - tail:]
