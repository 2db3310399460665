"""Client-address pseudonyms (HASH_CLIENT_IPS): the salt and the hash.

The salt is CLIENT_IP_SALT when set, else a random one generated at first start and kept in
JOURNAL_DIR, so pseudonyms stay stable across restarts without being guessable: a salt stored
beside the hashes it produced (the instance name, as before) let anyone reverse an IPv4 hash
in 2^32 tries.

>>> hash_ip("10.0.0.1", "s") == hash_ip("10.0.0.1", "s") != hash_ip("10.0.0.1", "t")
True
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import structlog

log = structlog.get_logger("ollama_proxy.privacy")

SALT_FILE = "client-ip-salt"


def hash_ip(ip: str, salt: str) -> str:
    """A stable pseudonym for a client address."""
    digest = hmac.new(salt.encode(), ip.encode(), hashlib.sha256).hexdigest()
    return "ip-" + digest[:16]


def client_ip_salt(configured: str, directory: str) -> str:
    """The configured salt, else the one kept in `directory` (created on first use)."""
    if configured:
        return configured
    path = Path(directory) / SALT_FILE
    try:
        return _read_or_create(path)
    except OSError as exc:
        # Hashing must not stop the proxy: pseudonyms then change at each restart.
        log.warning("client_ip_salt_not_kept", path=str(path), error=str(exc))
        return secrets.token_hex(32)


def _read_or_create(path: Path) -> str:
    existing = _read(path)
    if existing:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    salt = secrets.token_hex(32)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(salt + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.link(temporary, path)  # complete or absent: never a half-written salt
    except FileExistsError:  # another process kept one first: use theirs
        return _read(path) or salt
    finally:
        temporary.unlink(missing_ok=True)
    return salt


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""
