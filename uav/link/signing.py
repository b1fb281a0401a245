"""MAVLink2 signing: per-aircraft keys, SETUP_SIGNING, signed links with a strict policy.

A key is 32 random bytes in a file of its own (mode 0600), one per aircraft.  The key itself is
never printed; a fingerprint (the first bytes of its SHA-256) names it in messages.  Next to the
key a ``.timestamp`` file keeps the last signing timestamp used, so timestamps never go backwards
across runs (a vehicle rejects a replayed or older timestamp).

Policy on a signed link: everything we send is signed; of what arrives, only correctly signed
packets are accepted, except RADIO_STATUS (the radio itself cannot sign).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from ..errors import SigningError
from ..files import write_atomic
from .connection import Link

KEY_BYTES = 32
SIGNING_EPOCH = 1420070400  # 2015-01-01, MAVLink signing timestamps count 10 us from here
ALLOWED_UNSIGNED = frozenset({mavlink.MAVLINK_MSG_ID_RADIO_STATUS})


def fingerprint(secret: bytes) -> str:
    """A short, safe-to-print name for a key: ``sha256:ab12cd34ef56``."""
    return "sha256:" + hashlib.sha256(secret).hexdigest()[:12]


@dataclass(frozen=True)
class SigningKey:
    """A per-aircraft signing key loaded from ``path``.  ``repr`` never shows the secret."""

    path: Path
    secret: bytes = field(repr=False)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.secret)

    @property
    def timestamp_path(self) -> Path:
        return self.path.with_name(self.path.name + ".timestamp")

    def __str__(self) -> str:
        return f"signing key {self.path} ({self.fingerprint})"


def generate_key(path: str | Path, overwrite: bool = False) -> SigningKey:
    """Create a new random key file readable by its owner only (0600).

    Raises
    ------
    SigningError
        If the file exists (unless ``overwrite``) or cannot be written.
    """
    path = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    secret = secrets.token_bytes(KEY_BYTES)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError as exc:
        raise SigningError(f"{path} already exists; an aircraft's key is not replaced "
                           "silently (remove it first, or use --overwrite)") from exc
    except OSError as exc:
        raise SigningError(f"cannot create the key file {path}: {exc.strerror}") from exc
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode is filtered by the umask; this is not
        os.write(fd, secret)
    finally:
        os.close(fd)
    return SigningKey(path, secret)


def load_key(path: str | Path | SigningKey) -> SigningKey:
    """Read a key file, refusing one that others can read or that is not 32 bytes.

    Raises
    ------
    SigningError
    """
    if isinstance(path, SigningKey):
        return path
    path = Path(path)
    try:
        st = path.stat()
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise SigningError(f"signing key {path} does not exist; make one with "
                           "`uav signing keygen`") from exc
    except OSError as exc:
        raise SigningError(f"cannot read signing key {path}: {exc.strerror}") from exc
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SigningError(f"signing key {path} can be read by other users (mode "
                           f"{stat.S_IMODE(st.st_mode):04o}); run `chmod 600 {path}`")
    if len(data) != KEY_BYTES:
        raise SigningError(f"signing key {path} holds {len(data)} bytes, not {KEY_BYTES}: "
                           "not a key made by `uav signing keygen`")
    return SigningKey(path, data)


def now_timestamp() -> int:
    """Signing timestamp for now: 10 us units since 2015-01-01."""
    return int((max(time.time(), SIGNING_EPOCH) - SIGNING_EPOCH) * 100_000)


def next_timestamp(key: SigningKey) -> int:
    """A timestamp later than any this key has used (clock set back, or many quick runs)."""
    last = 0
    try:
        last = int(key.timestamp_path.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        pass
    except OSError as exc:
        raise SigningError(f"cannot read {key.timestamp_path}: {exc.strerror}") from exc
    return max(now_timestamp(), last + 1)


def save_timestamp(key: SigningKey, timestamp: int) -> None:
    """Remember the last timestamp used with ``key`` (never lowering it)."""
    try:
        old = int(key.timestamp_path.read_text().strip() or 0)
    except (OSError, ValueError):
        old = 0
    write_atomic(key.timestamp_path, str(max(int(timestamp), old)), error=SigningError,
                 what="signing timestamp")


def _only_radio_status(_mav, msg_id: int) -> bool:
    return msg_id in ALLOWED_UNSIGNED


def enable_signing(link: Link, key: str | Path | SigningKey, link_id: int = 0) -> SigningKey:
    """Sign everything ``link`` sends with ``key`` and accept only signed answers.

    The timestamp starts after the last one saved for this key and is saved again when the
    link closes.
    """
    key = load_key(key)
    start = next_timestamp(key)
    save_timestamp(key, start)
    link.master.setup_signing(key.secret, sign_outgoing=True,
                              allow_unsigned_callback=_only_radio_status,
                              initial_timestamp=start, link_id=link_id)
    link.signing = key
    link.on_close(lambda: save_timestamp(key, link.mav.signing.timestamp + 1))
    return key


def check_signed(link: Link, timeout: float = 3.0) -> None:
    """Wait for a correctly signed heartbeat; say why none came (unsigned, wrong key)."""
    signing = link.mav.signing
    before = signing.goodsig_count
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        link.poll("HEARTBEAT", 0.5)
        if signing.goodsig_count > before:
            return
    if signing.badsig_count:
        raise SigningError(f"the vehicle signs with a different key than {link.signing}: "
                           "wrong key file for this aircraft?")
    if signing.reject_count:
        raise SigningError("the vehicle answers unsigned: signing is not set up on it; run "
                           "`uav signing setup` over USB")
    raise SigningError(f"no signed heartbeat from the vehicle within {timeout:.0f} s")


def setup_signing(link: Link, key: str | Path | SigningKey, timeout: float = 3.0) -> SigningKey:
    """Give ``key`` to the vehicle with SETUP_SIGNING, then sign this link and check it works.

    Send this over a link you trust (USB): the key crosses it in the clear.

    Raises
    ------
    SigningError
        If the vehicle does not start answering signed.
    """
    key = load_key(key)
    start = next_timestamp(key)
    link.mav.setup_signing_send(link.target_system, link.target_component, list(key.secret),
                                start)
    enable_signing(link, key)
    check_signed(link, timeout)
    return key


def signing_status(link: Link) -> dict:
    """Counters of the signing layer (safe to print: no key material)."""
    s = link.mav.signing
    return {
        "enabled": s.secret_key is not None,
        "fingerprint": fingerprint(s.secret_key) if s.secret_key else None,
        "timestamp": int(s.timestamp),
        "good_signatures": s.goodsig_count,
        "bad_signatures": s.badsig_count,
        "unsigned_accepted": s.unsigned_count,
        "rejected": s.reject_count,
    }
