"""One ground station's connection to the built-in copter, and its simulated clock."""

from __future__ import annotations

import socket
import struct
import time
from typing import Any, Protocol

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from uav.errors import SimulatorError

M = mavlink


class ChannelOwner(Protocol):
    """What a channel needs of the vehicle that serves it (the server): its system id, where
    send errors go, its signing, and to be told when the socket broke.  Named here so the
    channel needs nothing from the server's module (the server makes channels, not the
    other way round)."""

    sysid: int
    send_errors: list[str]
    _sysid_param: Any

    def _apply_signing(self, ch: Channel) -> None: ...

    def _close_channel(self, ch: Channel) -> None: ...

SIGNING_EPOCH = 1420070400  # MAVLink signing timestamps count 10 us units from 2015-01-01


def signing_timestamp_now() -> int:
    return int((time.time() - SIGNING_EPOCH) * 100_000)


class _Sink:
    def __init__(self, channel: Channel):
        self.channel = channel

    def write(self, data: bytes) -> None:
        self.channel.outbuf += data


class Channel:
    """One GCS connection (a TCP client, or one UDP peer)."""

    def __init__(self, server: ChannelOwner, kind: str, sock: socket.socket,
                 addr, link_id: int, usb: bool = False):
        self.server = server
        self.kind = kind
        self.usb = usb  # SERIAL0: unsigned messages accepted even with signing on
        self.sock = sock
        self.addr = addr
        self.link_id = link_id
        self.outbuf = bytearray()
        self.mav = M.MAVLink(_Sink(self), srcSystem=server.sysid, srcComponent=1)
        self.mav.robust_parsing = True
        self.intervals: dict[int, float] = {}   # msgid -> seconds (sim)
        self.next_due: dict[int, float] = {}
        self.last_wall: dict[int, float] = {}
        self.param_queue: list[int] = []
        self.rejected = 0
        self.received = 0
        self.closed = False
        server._apply_signing(self)

    def send(self, msg) -> None:
        if self.closed:
            return
        if len(self.outbuf) > 1_000_000:  # a GCS that stopped reading: drop like a radio
            return
        self.mav.srcSystem = int(self.server._sysid_param.value)
        try:
            self.mav.send(msg)
        except (struct.error, TypeError, ValueError) as exc:
            # a value out of its field's range is a simulator bug; keep flying, keep the reason
            self.server.send_errors.append(f"{msg.get_type()}: {exc}")

    def flush(self) -> None:
        if not self.outbuf or self.closed:
            return
        try:
            if self.kind == "tcp":
                n = self.sock.send(self.outbuf)
                del self.outbuf[:n]
            else:
                # UDP: one datagram per MAVLink frame is not needed; send in chunks
                while self.outbuf:
                    chunk = bytes(self.outbuf[:1400])
                    self.sock.sendto(chunk, self.addr)
                    del self.outbuf[:len(chunk)]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            if self.kind == "tcp":
                self.server._close_channel(self)
            else:
                self.outbuf.clear()


class SimClock:
    """Simulated seconds since start: wall time times the speed-up, re-based on changes."""

    def __init__(self, speedup: float):
        if not speedup > 0:
            raise SimulatorError(f"speed-up must be positive, got {speedup}")
        self.speedup = float(speedup)
        self._wall0 = time.monotonic()
        self._sim0 = 0.0

    def now(self) -> float:
        return self._sim0 + (time.monotonic() - self._wall0) * self.speedup

    def set_speedup(self, speedup: float) -> None:
        if speedup <= 0:
            return
        self._sim0 = self.now()
        self._wall0 = time.monotonic()
        self.speedup = float(speedup)
