"""The link to a vehicle: sending, receiving and waiting with deadlines, reopening when closed.

A :class:`Link` wraps one MAVLink connection to one vehicle.  Everything that talks to the
vehicle (mission transfer, parameters, flight control, telemetry) goes through
:meth:`Link.send` and :meth:`Link.recv`, so every wait has a deadline and every timeout says
what was waited for.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass

os.environ.setdefault("MAVLINK20", "1")  # before mavutil picks its dialect

from pymavlink.dialects.v20 import ardupilotmega as mavlink  # noqa: E402

from ..errors import LinkError, LinkTimeoutError  # noqa: E402

# connection strings live in .endpoints; these names stay importable from here
from .endpoints import (  # noqa: E402, F401
    GCS_COMPONENT_ID,
    GCS_SYSTEM_ID,
    Endpoint,
    open_master,
    parse_connection_string,
)


@dataclass(frozen=True)
class VehicleInfo:
    """Who answered: ids, autopilot, airframe type and firmware."""

    system_id: int
    component_id: int
    autopilot: str
    vehicle_type: str
    firmware: str | None = None
    capabilities: int = 0
    board_version: int = 0

    @property
    def is_ardupilot(self) -> bool:
        return self.autopilot == "ARDUPILOTMEGA"

    @property
    def is_copter(self) -> bool:
        return self.vehicle_type in {"QUADROTOR", "HEXAROTOR", "OCTOROTOR", "TRICOPTER",
                                     "COAXIAL", "HELICOPTER", "DODECAROTOR", "DECAROTOR"}

    def describe(self) -> str:
        fw = self.firmware or "firmware unknown"
        return (f"{self.autopilot.lower()} {self.vehicle_type.lower()} (system {self.system_id}, "
                f"component {self.component_id}), {fw}")


def _enum_name(enum: str, value: int, prefix: str) -> str:
    entry = mavlink.enums[enum].get(int(value))
    return entry.name.removeprefix(prefix) if entry is not None else str(int(value))


def firmware_version(flight_sw_version: int) -> str:
    """``4.7.0-dev`` from AUTOPILOT_VERSION.flight_sw_version (major.minor.patch.type bytes)."""
    major = (flight_sw_version >> 24) & 0xFF
    minor = (flight_sw_version >> 16) & 0xFF
    patch = (flight_sw_version >> 8) & 0xFF
    kind = flight_sw_version & 0xFF
    suffix = {0: "-dev", 64: "-alpha", 128: "-beta", 192: "-rc", 255: ""}.get(kind, f"-{kind}")
    return f"{major}.{minor}.{patch}{suffix}"


Listener = Callable[[object], None]
_CHUNK = 65536

# Messages a vehicle sends only in answer to us.
_ANSWERS = frozenset({"COMMAND_ACK", "AUTOPILOT_VERSION", "PARAM_VALUE", "MISSION_COUNT",
                      "MISSION_REQUEST", "MISSION_REQUEST_INT", "MISSION_ACK",
                      "MISSION_ITEM_INT"})


class Link:
    """One MAVLink connection to one vehicle.

    Use :func:`connect` to make one.  ``Link`` is a context manager; leaving it closes the
    connection (and saves the signing timestamp when signing is on).

    Parameters
    ----------
    master : pymavlink.mavutil.mavfile
        An open pymavlink connection.
    url : str
        The connection string, for messages.
    """

    heartbeat_interval_s = 1.0

    def __init__(self, master, url: str = ""):
        self.master = master
        self.url = url
        self.vehicle: VehicleInfo | None = None
        self.target_system = 1
        self.target_component = 1
        self.statustexts: deque[tuple[float, int, str]] = deque(maxlen=200)
        self.last: dict[str, object] = {}
        self._listeners: list[Listener] = []
        self._send_listeners: list[Callable[[bytes], None]] = []
        self._last_heartbeat_sent = 0.0
        self._closers: list[Callable[[], None]] = []
        self.signing = None  # set by uav.link.signing.enable_signing
        self.answered = False  # has the vehicle answered anything we sent?
        self.rtt_s: float | None = None  # a measured round trip, when one is known
        # When the vehicle was last heard (any message of its own): a transfer that hears
        # nothing at all is in a radio fade, not facing a vehicle that stopped asking.
        self.last_heard = time.monotonic()
        # Vehicle frames that carried a MAVLink2 signature we could not check (we hold no
        # key): tells "signing is set up on it" apart from "the link loses what we send".
        self.signed_frames = 0
        # A link that closes (a USB radio pulled out, a TCP proxy restarting) is opened again
        # by this, when set (uav.link.reconnect), and carries on; else it is an error at once.
        self.recover: Callable[[], bool] | None = None
        self.reconnects = 0
        self._recovering = False
        self._wrap_send()

    # --- plumbing -----------------------------------------------------------------------
    @property
    def mav(self):
        """The pymavlink ``MAVLink`` object (message encoders ``*_send``)."""
        return self.master.mav

    def _wrap_send(self) -> None:
        # Everything we send passes through here so a .tlog can record both directions.
        # The unwrapped send is kept so a link riding on someone else's connection
        # (DronekitLink) can put it back when it closes.
        mav = self.master.mav
        original = self._original_send = mav.send

        def send(msg, force_mavlink1=False, _original=original):
            try:
                _original(msg, force_mavlink1=force_mavlink1)
            except LinkError:
                if not self._recover():
                    raise
                self.master.mav.send(msg, force_mavlink1=force_mavlink1)
                return
            if self._send_listeners:
                buf = bytes(msg.get_msgbuf())
                for fn in list(self._send_listeners):
                    fn(buf)

        mav.send = send

    def add_listener(self, fn: Listener) -> None:
        """Call ``fn(msg)`` for every message received from now on."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def add_send_listener(self, fn: Callable[[bytes], None]) -> None:
        """Call ``fn(raw_bytes)`` for every message sent from now on."""
        self._send_listeners.append(fn)

    def remove_send_listener(self, fn: Callable[[bytes], None]) -> None:
        if fn in self._send_listeners:
            self._send_listeners.remove(fn)

    def on_close(self, fn: Callable[[], None]) -> None:
        self._closers.append(fn)

    def send(self, msg) -> None:
        """Send one encoded MAVLink message."""
        self.mav.send(msg)

    @contextmanager
    def batch(self):
        """Send everything sent inside the ``with`` block in one write (one system call)."""
        master = self.master
        chunks: list[bytes] = []
        original = master.write
        master.write = chunks.append
        try:
            yield
        finally:
            master.write = original
            if chunks:
                original(b"".join(chunks))

    def _read_one(self, timeout: float):
        """The next message of any type, or None after ``timeout`` seconds.

        Reads whatever has arrived in one go and parses from that buffer; pymavlink's own
        ``recv_msg`` makes a system call per message part, which halves transfer speed.
        """
        master = self.master
        try:
            msg = master.mav.parse_char(b"")  # one already buffered?
            if msg is None:
                data = master.recv(_CHUNK)
                if not data and timeout > 0:
                    master.select(timeout)
                    data = master.recv(_CHUNK)
                if data:
                    msg = master.mav.parse_char(data)
        except LinkError:
            if self._recover():
                return None
            raise
        except mavlink.MAVError:
            return None
        except OSError as exc:
            if self._recover():
                return None
            raise LinkError(f"the link to {self.url or 'the vehicle'} broke: "
                            f"{exc.strerror or exc}") from exc
        if msg is not None:
            master.post_message(msg)  # pymavlink's bookkeeping (ids, signing link id)
        return msg

    def _dispatch(self, msg) -> None:
        mtype = msg.get_type()
        if self._from_vehicle(msg) and mtype != "RADIO_STATUS":
            self.last_heard = time.monotonic()
            header = getattr(msg, "_header", None)
            if header is not None and header.incompat_flags & mavlink.MAVLINK_IFLAG_SIGNED \
                    and self.signing is None:
                self.signed_frames += 1
        if mtype == "STATUSTEXT":
            self.statustexts.append((time.monotonic(), msg.severity, _text(msg.text)))
        self.last[mtype] = msg
        # ArduPilot announces parameters it changes itself (STAT_RUNTIME...) to every link,
        # even one it ignores for want of a signature: index 65535, not an answer to us
        if mtype in _ANSWERS and not (mtype == "PARAM_VALUE" and msg.param_index == 65535):
            self.answered = True
        for fn in list(self._listeners):
            fn(msg)

    def _keepalive(self, force: bool = False) -> None:
        now = time.monotonic()
        if force and now - self._last_heartbeat_sent >= 0.5 or \
                now - self._last_heartbeat_sent >= self.heartbeat_interval_s:
            self._last_heartbeat_sent = now
            self.mav.heartbeat_send(mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID, 0, 0,
                                    mavlink.MAV_STATE_ACTIVE)

    def poll(self, types: str | Iterable[str] | None = None, timeout: float = 0.0,
             condition: Callable[[object], bool] | None = None):
        """The next matching message from the vehicle, or None after ``timeout`` seconds.

        Every message read on the way (matching or not) goes to the listeners.  Messages from
        other systems (another ground station) are ignored.
        """
        wanted = {types} if isinstance(types, str) else (set(types) if types else None)
        deadline = time.monotonic() + timeout
        while True:
            self._keepalive()
            remaining = deadline - time.monotonic()
            msg = self._read_one(min(remaining, 0.2) if remaining > 0 else 0.0)
            if msg is not None:
                mtype = msg.get_type()
                if mtype == "BAD_DATA":
                    continue
                self._dispatch(msg)
                if (wanted is None or mtype in wanted) and self._from_vehicle(msg) and (
                        condition is None or condition(msg)):
                    return msg
                continue
            if time.monotonic() >= deadline:
                return None

    def recv(self, types: str | Iterable[str], timeout: float, what: str,
             condition: Callable[[object], bool] | None = None):
        """Like :meth:`poll` but a timeout raises :class:`LinkTimeoutError` naming ``what``."""
        msg = self.poll(types, timeout, condition)
        if msg is None:
            raise LinkTimeoutError(f"no answer from the vehicle on {self.url or 'the link'}: "
                                   f"waited {timeout:.1f} s for {what}")
        return msg

    def drain(self) -> int:
        """Read and dispatch everything already received; return how many messages."""
        n = 0
        while self._read_one(0.0) is not None:
            n += 1
        return n

    def _from_vehicle(self, msg) -> bool:
        if self.vehicle is None:
            return True
        src = msg.get_srcSystem()
        # RADIO_STATUS comes from the radio (sysid '3'), not from the vehicle.
        return src == self.target_system or msg.get_type() == "RADIO_STATUS"

    def quiet_for(self) -> float:
        """Seconds since the vehicle was last heard (any message of its own)."""
        return time.monotonic() - self.last_heard

    def _recover(self) -> bool:
        """The connection closed or broke: True once a new one carries on (see
        :func:`uav.link.reconnect.enable_reconnect`), False when reconnecting is off."""
        if self.recover is None or self._recovering or isinstance(self.master, _Closed):
            return False
        self._recovering = True
        try:
            return self.recover()
        finally:
            self._recovering = False

    def silence_hint(self) -> str:
        """A hint for timeout messages when the vehicle has never answered us at all."""
        if self.answered:
            return ""
        return (" (the vehicle has answered nothing we sent: if MAVLink2 signing is set up on "
                "it, connect with its key, --signing-key)")

    def recent_statustext(self, since: float) -> list[str]:
        """STATUSTEXT lines received since ``time.monotonic()`` value ``since``."""
        return [text for t, _sev, text in self.statustexts if t >= since]

    # --- life cycle ---------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection (idempotent)."""
        closers, self._closers = self._closers, []
        for fn in closers:
            try:
                fn()
            except Exception:  # noqa: BLE001 - closing must not fail the caller
                pass
        if self.master is not None:
            try:
                self.master.close()
            finally:
                self.master = _Closed(self.url)

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        who = self.vehicle.describe() if self.vehicle else "no vehicle yet"
        return f"<Link {self.url}: {who}>"

    # --- conveniences -------------------------------------------------------------------
    def command_long(self, command: int, *params: float, confirmation: int = 0) -> None:
        """Send COMMAND_LONG to the vehicle (no wait; see :mod:`uav.link.control`)."""
        p = list(params) + [0.0] * (7 - len(params))
        self.mav.command_long_send(self.target_system, self.target_component, int(command),
                                   confirmation, *p[:7])

    def wait_heartbeat(self, timeout: float = 10.0):
        """Wait for the vehicle's heartbeat and return it."""
        return self.recv("HEARTBEAT", timeout, "a heartbeat from the vehicle",
                         condition=_is_vehicle_heartbeat)


class _Closed:
    """Stands in for a closed connection so a late call says what happened."""

    def __init__(self, url: str):
        self.url = url

    def __getattr__(self, name):
        raise LinkError(f"the link to {self.url or 'the vehicle'} is closed")

    def close(self) -> None:
        pass


def _text(value) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).rstrip("\x00").strip()


def _is_vehicle_heartbeat(msg) -> bool:
    return (msg.type not in (mavlink.MAV_TYPE_GCS, mavlink.MAV_TYPE_ONBOARD_CONTROLLER,
                             mavlink.MAV_TYPE_GIMBAL, mavlink.MAV_TYPE_ADSB)
            and msg.autopilot != mavlink.MAV_AUTOPILOT_INVALID)
