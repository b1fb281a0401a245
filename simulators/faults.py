"""A fault-injecting MAVLink proxy: drop, duplicate, reorder and delay whole frames, or play a
telemetry radio (:mod:`simulators.radio`: airtime, burst loss, fades, a radio unplugged).

Put it between a GCS and any vehicle (built-in or SITL) to see what a lossy radio does to a
transfer.  The byte stream is cut into MAVLink frames (v1 and v2, signed or not) so faults hit
whole packets, as a radio that loses a packet would; bytes that are not a frame pass through
untouched.  Faults are drawn from a seeded generator per direction, so a failing run repeats.

>>> with FaultyLink("tcp:127.0.0.1:5760", drop=0.2, seed=1) as link:   # doctest: +SKIP
...     upload(link.connection_string, plan)
...     print(link.counters["to_vehicle"]["dropped"])

From the command line, so a pilot can rehearse on a bad link too::

    python -m simulators.faults tcp:127.0.0.1:5760 --radio sik-57600-fades --port 5770
"""

from __future__ import annotations

import heapq
import random
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from uav.errors import SimulatorError

from .radio import RADIO_COMPONENT_ID, RADIO_SYSTEM_ID, RadioChannel, RadioModel, radio_model

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
    radio : str or RadioModel, optional
        Play a telemetry radio (a preset name such as ``sik-57600``, or a model) on top of
        the faults above: airtime, half duplex, burst loss, fades, scripted drops.
    listen_port : int
        Where to listen (0: any free port).

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
                 to_vehicle: dict | None = None, to_gcs: dict | None = None,
                 radio: str | RadioModel | None = None, listen_port: int = 0):
        kind, _, rest = target.partition(":")
        host, _, port = rest.rpartition(":")
        if kind not in ("tcp", "udp") or not host or not port.isdigit():
            raise SimulatorError(f"fault proxy target must be tcp:HOST:PORT or udp:HOST:PORT "
                                 f"(where the vehicle listens), got {target!r}")
        self.kind = kind
        self.target = (host, int(port))
        self.radio = radio_model(radio) if radio is not None else None
        if self.radio is not None and self.radio.drops and kind != "tcp":
            raise SimulatorError("radio drops close a connection: they need a tcp: target")
        self._radio_rng = random.Random(seed * 1000 + 7)
        self.channel: RadioChannel | None = None  # made at start()
        self.drops_done: list[float] = []
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
            self.port = listen_port
            self._open_listener()
        else:
            # one socket the GCS sends to, one that talks to the vehicle; frames are
            # re-sent one per datagram, as a radio modem's packets
            self._listen = None
            self._udp_gcs = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._udp_gcs.bind(("127.0.0.1", listen_port))
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
        self._cuts: list[float] = []  # drops asked for from other threads (seconds down)
        self._reopen_at: float | None = None
        self._status_mav = mavlink.MAVLink(None, RADIO_SYSTEM_ID, RADIO_COMPONENT_ID)

    def _open_listener(self) -> None:
        self._listen = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listen.bind(("127.0.0.1", self.port))
        self._listen.listen(4)
        self._listen.setblocking(False)
        self.port = self._listen.getsockname()[1]
        self._sel.register(self._listen, selectors.EVENT_READ, ("listen", None))

    def cut(self, down_s: float) -> None:
        """Close every connection now and refuse new ones for ``down_s`` seconds, as a USB
        radio pulled out of the laptop and plugged back in (TCP only)."""
        if self.kind != "tcp":
            raise SimulatorError("a cut closes a connection: it needs a tcp: target")
        self._cuts.append(float(down_s))

    def _do_cut(self, down_s: float, now: float) -> None:
        for pair in list(self._pairs):
            self._close_pair(pair)
        if self._listen is not None:
            self._sel.unregister(self._listen)
            self._listen.close()
            self._listen = None
        self._reopen_at = now + down_s
        self.drops_done.append(now - self.channel.start if self.channel else 0.0)

    @property
    def connection_string(self) -> str:
        """Where the GCS connects (TCP) or sends its datagrams (UDP: ``udpout:``)."""
        if self.kind == "udp":
            return f"udpout:127.0.0.1:{self.port}"
        return f"tcp:127.0.0.1:{self.port}"

    def start(self) -> FaultyLink:
        if self.radio is not None:
            self.channel = RadioChannel(self.radio, self._radio_rng, time.monotonic())
            self._scheduled = sorted(self.radio.drops)
            self._next_status = time.monotonic()
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
            if self.channel is not None:
                self._radio_tick(now)
            while self._cuts:
                self._do_cut(self._cuts.pop(0), now)
            if self._reopen_at is not None and now >= self._reopen_at:
                self._reopen_at = None
                self._open_listener()
            for d in self._dirs.values():
                if d.held is not None and d.held[2] <= now:
                    self._release(d)
            while self._queue and self._queue[0][0] <= now:
                _, _, sock, data = heapq.heappop(self._queue)
                try:
                    sock.sendall(data)
                except OSError:
                    pass

    def _radio_tick(self, now: float) -> None:
        """Scripted drops, and RADIO_STATUS from the local radio (no airtime: it comes over
        the serial cable, not the air)."""
        ch = self.channel
        while self._scheduled and ch.start + self._scheduled[0][0] <= now:
            self._do_cut(self._scheduled.pop(0)[1], now)
        if self.radio.status_hz > 0 and now >= self._next_status:
            self._next_status = now + 1.0 / self.radio.status_hz
            rssi = ch.rssi(now)
            free = ch.free_at.get("air" if self.radio.half_duplex else "to_vehicle", now)
            backlog = max(0.0, free - now) * self.radio.baud / 10
            txbuf = max(0, min(100, int(100 * (1 - backlog / self.radio.buffer_bytes))))
            errors = min(65535, ch.counters["lost"] + ch.counters["faded"])
            msg = mavlink.MAVLink_radio_status_message(
                rssi, rssi, txbuf, 40, 40, errors, min(65535, ch.counters["overflow"]))
            frame = msg.pack(self._status_mav)
            for pair in self._pairs:
                try:
                    pair["gcs"].sendall(frame)
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
        if getattr(self, "channel", None) is not None:
            arrive = self.channel.send(d.name, len(frame), time.monotonic())
            if arrive is None:
                c["dropped"] += 1
                return
            c["bytes"] += len(frame)
            self._seq += 1
            heapq.heappush(self._queue, (arrive, self._seq, out, frame))
            return
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


def main(argv: list[str] | None = None) -> int:
    """``python -m simulators.faults TARGET --radio sik-57600 [--port P]``: run the proxy until
    Ctrl-C, printing where to connect and, every 10 s, what the link did."""
    import argparse

    from .radio import PRESETS

    ap = argparse.ArgumentParser(
        prog="python -m simulators.faults",
        description="A bad link between a ground station and a vehicle (built-in copter or "
                    "ArduPilot SITL), to rehearse uploads and flights on it.")
    ap.add_argument("target", help="where the vehicle listens: tcp:HOST:PORT or udp:HOST:PORT")
    ap.add_argument("--radio", choices=sorted(PRESETS), default=None,
                    help="play a telemetry radio (airtime, burst loss; -fades adds 2-8 s "
                         "fades every 15-40 s)")
    ap.add_argument("--drop", type=float, default=0.0, help="extra loss per frame, 0..1")
    ap.add_argument("--cut-at", type=float, action="append", default=[], metavar="S",
                    help="close the connection S seconds after the start, as a radio pulled "
                         "out (repeatable)")
    ap.add_argument("--down", type=float, default=5.0, metavar="S",
                    help="seconds a cut link stays refused before it can be opened again")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--port", type=int, default=0, help="port to listen on (0: any free one)")
    args = ap.parse_args(argv)
    radio = None
    if args.radio or args.cut_at:
        radio = radio_model(args.radio or "sik-57600",
                            drops=tuple((t, args.down) for t in args.cut_at))
    try:
        proxy = FaultyLink(args.target, drop=args.drop, seed=args.seed, radio=radio,
                           listen_port=args.port)
    except (SimulatorError, OSError) as exc:
        print(f"Error: {exc}")
        return 2
    with proxy:
        print(f"connect: {proxy.connection_string}  (to {args.target}; Ctrl-C stops)",
              flush=True)
        try:
            while True:
                time.sleep(10)
                c = proxy.counters
                extra = ""
                if proxy.channel is not None:
                    rc = proxy.channel.counters
                    extra = (f"; radio lost {rc['lost']}, faded {rc['faded']}, buffer full "
                             f"{rc['overflow']}, drops {len(proxy.drops_done)}")
                print(f"up {c['to_vehicle']['frames']} frames ({c['to_vehicle']['dropped']} "
                      f"lost), down {c['to_gcs']['frames']} ({c['to_gcs']['dropped']} lost)"
                      f"{extra}", flush=True)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
