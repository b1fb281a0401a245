"""A fault-injecting MAVLink proxy: drop, duplicate, reorder and delay whole frames.

Put it between a GCS and any vehicle (built-in or SITL) to see what a lossy radio does to a
transfer.  The byte stream is cut into MAVLink frames (v1 and v2, signed or not) so faults hit
whole packets, as a radio that loses a packet would; bytes that are not a frame pass through
untouched.  Faults are drawn from a seeded generator per direction, so a failing run repeats.

>>> with FaultyLink("tcp:127.0.0.1:5760", drop=0.2, seed=1) as link:   # doctest: +SKIP
...     upload(link.connection_string, plan)
...     print(link.counters["to_vehicle"]["dropped"])
"""

from __future__ import annotations

import heapq
import random
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field

from uav.errors import SimulatorError

V1, V2 = 0xFE, 0xFD
# A frame held back to be reordered goes out after the next frame on its stream, or after this
# long if none comes (a lone command must still arrive, late, as over a real radio).
REORDER_HOLD_S = 0.25


@dataclass
class Faults:
    """What happens to the frames going one way."""

    drop: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    delay_s: float = 0.0

    def check(self, where: str) -> None:
        for name in ("drop", "duplicate", "reorder"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise SimulatorError(f"{where}: {name} must be a probability 0..1, got {p}")
        if self.delay_s < 0:
            raise SimulatorError(f"{where}: delay_s must be >= 0, got {self.delay_s}")


def split_frames(buf: bytearray) -> list[bytes]:
    """Cut complete MAVLink frames (and any junk before them) off the front of ``buf``."""
    out = []
    while buf:
        start = buf[0]
        if start not in (V1, V2):
            # pass junk through up to the next possible frame start
            i = 1
            while i < len(buf) and buf[i] not in (V1, V2):
                i += 1
            out.append(bytes(buf[:i]))
            del buf[:i]
            continue
        if len(buf) < 3:
            break
        n = buf[1]
        if start == V1:
            size = 6 + n + 2
        else:
            size = 10 + n + 2 + (13 if buf[2] & 0x01 else 0)
        if len(buf) < size:
            break
        out.append(bytes(buf[:size]))
        del buf[:size]
    return out


@dataclass
class _Direction:
    name: str
    faults: Faults
    rng: random.Random
    counters: dict = field(default_factory=lambda: dict(frames=0, dropped=0, duplicated=0,
                                                        reordered=0, delayed=0, bytes=0))
    held: tuple | None = None  # (bytes, socket, release time): a frame being reordered


class _Datagrams:
    """``sendall`` for a UDP peer, so the fault logic treats both transports alike."""

    def __init__(self, sock: socket.socket, addr):
        self.sock = sock
        self.addr = addr

    def sendall(self, data: bytes) -> None:
        if self.addr is not None:
            self.sock.sendto(data, self.addr)


class FaultyLink:
    """A TCP or UDP proxy that injects faults into MAVLink traffic.

    Parameters
    ----------
    target : str
        The vehicle: ``tcp:HOST:PORT``, or ``udp:HOST:PORT`` where it listens for UDP (the
        built-in copter's ``udp_port``); the GCS then sends to ``connection_string``.
    drop, duplicate, reorder : float
        Probability per frame, both directions (override with ``to_vehicle``/``to_gcs``).
    delay_s : float
        Extra latency per frame.
    seed : int
        Seed of the fault generator.
    to_vehicle, to_gcs : dict, optional
        Per-direction settings, e.g. ``to_gcs={"drop": 0.5}``.

    Attributes
    ----------
    connection_string : str
        Where the GCS should connect (``tcp:127.0.0.1:PORT``).
    counters : dict
        ``{"to_vehicle": {...}, "to_gcs": {...}}`` with frames, dropped, duplicated,
        reordered, delayed, bytes.
    """

    def __init__(self, target: str, drop: float = 0.0, duplicate: float = 0.0,
                 reorder: float = 0.0, delay_s: float = 0.0, seed: int = 1,
                 to_vehicle: dict | None = None, to_gcs: dict | None = None):
        kind, _, rest = target.partition(":")
        host, _, port = rest.rpartition(":")
        if kind not in ("tcp", "udp") or not host or not port.isdigit():
            raise SimulatorError(f"fault proxy target must be tcp:HOST:PORT or udp:HOST:PORT "
                                 f"(where the vehicle listens), got {target!r}")
        self.kind = kind
        self.target = (host, int(port))
        base = dict(drop=drop, duplicate=duplicate, reorder=reorder, delay_s=delay_s)
        self._dirs = {}
        for i, (name, over) in enumerate((("to_vehicle", to_vehicle), ("to_gcs", to_gcs))):
            unknown = set(over or {}) - set(base)
            if unknown:
                raise SimulatorError(f"{name}: unknown fault setting(s) {sorted(unknown)}; "
                                     f"use {sorted(base)}")
            f = Faults(**{**base, **(over or {})})
            f.check(name)
            self._dirs[name] = _Direction(name, f, random.Random(seed * 1000 + i))
        self.counters = {name: d.counters for name, d in self._dirs.items()}
        self._sel = selectors.DefaultSelector()
        self._udp_gcs = self._udp_vehicle = None
        if kind == "tcp":
            self._listen = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listen.bind(("127.0.0.1", 0))
            self._listen.listen(4)
            self._listen.setblocking(False)
            self.port = self._listen.getsockname()[1]
            self._sel.register(self._listen, selectors.EVENT_READ, ("listen", None))
        else:
            # one socket the GCS sends to, one that talks to the vehicle; frames are
            # re-sent one per datagram, as a radio modem's packets
            self._listen = None
            self._udp_gcs = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._udp_gcs.bind(("127.0.0.1", 0))
            self._udp_vehicle = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._udp_vehicle.bind(("127.0.0.1", 0))
            for u in (self._udp_gcs, self._udp_vehicle):
                u.setblocking(False)
            self.port = self._udp_gcs.getsockname()[1]
            self._sel.register(self._udp_gcs, selectors.EVENT_READ, ("udp_gcs", None))
            self._sel.register(self._udp_vehicle, selectors.EVENT_READ, ("udp_vehicle", None))
            self._to_vehicle_out = _Datagrams(self._udp_vehicle, self.target)
            self._to_gcs_out = _Datagrams(self._udp_gcs, None)
        self._pairs: list[dict] = []
        self._queue: list = []  # (due, seq, sock, bytes)
        self._seq = 0
        self._running = False
        self._thread: threading.Thread | None = None

    @property
    def connection_string(self) -> str:
        """Where the GCS connects (TCP) or sends its datagrams (UDP: ``udpout:``)."""
        if self.kind == "udp":
            return f"udpout:127.0.0.1:{self.port}"
        return f"tcp:127.0.0.1:{self.port}"

    def start(self) -> FaultyLink:
        self._running = True
        self._thread = threading.Thread(target=self._run, name=f"faulty-link:{self.port}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for pair in self._pairs:
            for s in (pair["gcs"], pair["vehicle"]):
                s.close()
        self._pairs.clear()
        self._sel.close()
        for s in (self._listen, self._udp_gcs, self._udp_vehicle):
            if s is not None:
                s.close()

    def __enter__(self) -> FaultyLink:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- loop ----------------------------------------------------------------------------------
    def _run(self) -> None:
        while self._running:
            timeout = 0.01
            if any(d.held is not None for d in self._dirs.values()):
                timeout = 0.005
            if self._queue:
                timeout = max(0.0, min(timeout, self._queue[0][0] - time.monotonic()))
            for key, _ in self._sel.select(timeout=timeout):
                kind, pair = key.data
                if kind == "listen":
                    self._accept()
                elif kind in ("udp_gcs", "udp_vehicle"):
                    self._read_udp(kind)
                else:
                    self._read(pair, kind)
            now = time.monotonic()
            for d in self._dirs.values():
                if d.held is not None and d.held[2] <= now:
                    self._release(d)
            while self._queue and self._queue[0][0] <= now:
                _, _, sock, data = heapq.heappop(self._queue)
                try:
                    sock.sendall(data)
                except OSError:
                    pass

    def _accept(self) -> None:
        try:
            gcs, _ = self._listen.accept()
        except OSError:
            return
        try:
            veh = socket.create_connection(self.target, timeout=5)
        except OSError:
            gcs.close()  # the vehicle is not there: the GCS sees the connection drop
            return
        for s in (gcs, veh):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.setblocking(False)
        pair = {"gcs": gcs, "vehicle": veh, "buf_gcs": bytearray(), "buf_vehicle": bytearray()}
        self._pairs.append(pair)
        self._sel.register(gcs, selectors.EVENT_READ, ("gcs", pair))
        self._sel.register(veh, selectors.EVENT_READ, ("vehicle", pair))

    def _close_pair(self, pair) -> None:
        for d in self._dirs.values():
            if d.held is not None and d.held[1] in (pair["gcs"], pair["vehicle"]):
                d.held = None
        for s in (pair["gcs"], pair["vehicle"]):
            try:
                self._sel.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()
        if pair in self._pairs:
            self._pairs.remove(pair)

    def _read(self, pair, side: str) -> None:
        sock = pair[side]
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close_pair(pair)
            return
        buf = pair["buf_" + side]
        buf += data
        d = self._dirs["to_vehicle" if side == "gcs" else "to_gcs"]
        out = pair["vehicle" if side == "gcs" else "gcs"]
        for frame in split_frames(buf):
            self._forward(d, out, frame)

    def _read_udp(self, kind: str) -> None:
        sock = self._udp_gcs if kind == "udp_gcs" else self._udp_vehicle
        while True:
            try:
                data, addr = sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. ICMP port unreachable from a vehicle not (yet) there
                return
            if kind == "udp_gcs":
                self._to_gcs_out.addr = addr  # answers go to whoever spoke last
                d, out = self._dirs["to_vehicle"], self._to_vehicle_out
            else:
                d, out = self._dirs["to_gcs"], self._to_gcs_out
            for frame in split_frames(bytearray(data)):
                self._forward(d, out, frame)

    def _forward(self, d: _Direction, out: socket.socket, frame: bytes) -> None:
        c, f, rng = d.counters, d.faults, d.rng
        is_frame = frame[0] in (V1, V2)
        if not is_frame:
            self._emit(d, out, frame)
            return
        c["frames"] += 1
        if rng.random() < f.drop:
            c["dropped"] += 1
            return
        copies = 1
        if rng.random() < f.duplicate:
            c["duplicated"] += 1
            copies = 2
        if d.held is not None and d.held[1] is not out:
            self._release(d)  # another connection's frame: nothing to swap it with
        if d.held is None and rng.random() < f.reorder:
            c["reordered"] += 1
            d.held = (frame * copies, out, time.monotonic() + REORDER_HOLD_S)
            return
        self._emit(d, out, frame * copies)
        self._release(d)

    def _release(self, d: _Direction) -> None:
        if d.held is not None:
            data, out, _ = d.held
            d.held = None
            self._emit(d, out, data)

    def _emit(self, d: _Direction, out: socket.socket, data: bytes) -> None:
        d.counters["bytes"] += len(data)
        if d.faults.delay_s > 0:
            d.counters["delayed"] += 1
            self._seq += 1
            heapq.heappush(self._queue, (time.monotonic() + d.faults.delay_s, self._seq, out,
                                         data))
            return
        try:
            out.sendall(data)
        except BlockingIOError:
            # the receiver is slow: queue it rather than block the proxy
            self._seq += 1
            heapq.heappush(self._queue, (time.monotonic(), self._seq, out, data))
        except OSError:
            pass
