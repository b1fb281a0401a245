"""MAVLink2 over TCP and UDP for the built-in copter: channels, streams, params, commands.

One thread runs everything (sockets, the flight model, the mission protocol, telemetry), so
the vehicle state needs no locks; other threads only read snapshots or call :meth:`stop`.

Each TCP client and each UDP peer is a channel, as each serial port is on ArduPilot: its own
message intervals (streams start off; heartbeats are always sent), its own sequence numbers,
and the vehicle's signing key.  Rates are in simulated time, as on SITL, but no stream is sent
faster than 50 Hz of wall time so a high speed-up does not flood a GCS.
"""

from __future__ import annotations

import functools
import math
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from uav.errors import SimulatorError

from .flight import wind_vector
from .mission_protocol import MissionItemProtocol
from .params import ParamTable
from .vehicle import MODES, CameraTrigger, Vehicle

M = mavlink

MAX_STEP_S = 0.05          # simulated seconds per physics step
MAX_STREAM_WALL_HZ = 50.0  # cap on any one stream in wall time
SIGNING_EPOCH = 1420070400  # MAVLink signing timestamps count 10 us units from 2015-01-01
UNSIGNED_OK = {M.MAVLINK_MSG_ID_RADIO_STATUS, M.MAVLINK_MSG_ID_RADIO}

STREAM_GROUPS = {
    M.MAV_DATA_STREAM_EXTENDED_STATUS: [M.MAVLINK_MSG_ID_SYS_STATUS,
                                        M.MAVLINK_MSG_ID_MISSION_CURRENT,
                                        M.MAVLINK_MSG_ID_GPS_RAW_INT],
    M.MAV_DATA_STREAM_POSITION: [M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT,
                                 M.MAVLINK_MSG_ID_LOCAL_POSITION_NED],
    M.MAV_DATA_STREAM_EXTRA1: [M.MAVLINK_MSG_ID_ATTITUDE],
    M.MAV_DATA_STREAM_EXTRA2: [M.MAVLINK_MSG_ID_VFR_HUD],
    M.MAV_DATA_STREAM_EXTRA3: [M.MAVLINK_MSG_ID_BATTERY_STATUS,
                               M.MAVLINK_MSG_ID_EKF_STATUS_REPORT,
                               M.MAVLINK_MSG_ID_SYSTEM_TIME],
}

CAPABILITIES = (M.MAV_PROTOCOL_CAPABILITY_MISSION_FLOAT | M.MAV_PROTOCOL_CAPABILITY_PARAM_FLOAT
                | M.MAV_PROTOCOL_CAPABILITY_MISSION_INT | M.MAV_PROTOCOL_CAPABILITY_COMMAND_INT
                | M.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_GLOBAL_INT
                | M.MAV_PROTOCOL_CAPABILITY_MAVLINK2 | M.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE
                | M.MAV_PROTOCOL_CAPABILITY_MISSION_RALLY)
# mission protocol messages -> the MissionItemProtocol method that answers them
MISSION_HANDLERS = {
    "MISSION_COUNT": "handle_count", "MISSION_ITEM": "handle_item",
    "MISSION_ITEM_INT": "handle_item", "MISSION_REQUEST_LIST": "handle_request_list",
    "MISSION_REQUEST": "handle_request", "MISSION_REQUEST_INT": "handle_request",
    "MISSION_CLEAR_ALL": "handle_clear_all",
}
FIRMWARE_VERSION = (4 << 24) | (7 << 16) | (0 << 8) | M.FIRMWARE_VERSION_TYPE_DEV


# MAVLink FTP (https://mavlink.io/en/services/ftp.html): opcodes and error codes used here
FTP_TERMINATE_SESSION, FTP_RESET_SESSIONS = 1, 2
FTP_OPENS = {4, 6, 11}  # OpenFileRO, CreateFile, OpenFileWO
FTP_ACK, FTP_NAK = 128, 129
FTP_ERR_UNKNOWN_COMMAND, FTP_ERR_FILE_NOT_FOUND = 7, 10


def signing_timestamp_now() -> int:
    return int((time.time() - SIGNING_EPOCH) * 100_000)


class _Sink:
    def __init__(self, channel: Channel):
        self.channel = channel

    def write(self, data: bytes) -> None:
        self.channel.outbuf += data


class Channel:
    """One GCS connection (a TCP client, or one UDP peer)."""

    def __init__(self, server: BuiltinVehicleServer, kind: str, sock: socket.socket,
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


class BuiltinVehicleServer:
    """A built-in ArduPilot-compatible copter served over MAVLink2.

    Parameters
    ----------
    home : (lat, lon, alt_amsl, heading)
    speedup : float
        Simulated seconds per wall second (also settable live through SIM_SPEEDUP).
    port : int
        TCP port to listen on; 0 picks a free one.
    host : str
        Address to listen on.
    udp_port : int or None
        Also listen for UDP peers on this port (0: a free one).
    udp_out : list of "host:port"
        Send to these UDP addresses from the start (e.g. QGroundControl's 127.0.0.1:14550).
    signing_key : bytes or None
        32-byte MAVLink2 signing key; when set, unsigned packets other than RADIO_STATUS are
        dropped on the telemetry port (``telemetry_connection_string``) and UDP, as ArduPilot
        does on SERIAL1 and up; the main port, like ArduPilot's SERIAL0 (USB), still takes them.
    params : dict
        Parameter values to start with (names as ArduPilot's).
    boot_time_s : float
        Simulated seconds until the GPS/EKF are ready and home is set (real SITL: ~40 s;
        phases as ArduCopter's, see :class:`Vehicle`; 0: ready at once).
    """

    def __init__(self, home=(-35.363261, 149.165230, 584.0, 353.0), speedup: float = 1.0,
                 port: int = 0, host: str = "127.0.0.1", udp_port: int | None = None,
                 udp_out: list[str] | None = None, signing_key: bytes | None = None,
                 params: dict | None = None, boot_time_s: float = 10.0):
        if len(home) != 4:
            raise SimulatorError(f"home must be (lat, lon, alt_amsl, heading), got {home!r}")
        lat, lon = float(home[0]), float(home[1])
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise SimulatorError(f"home {lat}, {lon} is not a latitude, longitude")
        if signing_key is not None and len(signing_key) != 32:
            raise SimulatorError(f"a MAVLink2 signing key is 32 bytes, got {len(signing_key)}")
        self.home = tuple(float(x) for x in home)
        merged = dict(params or {})
        merged.setdefault("SIM_SPEEDUP", speedup)
        self.params = ParamTable(merged)
        # held, not looked up by name: every message in and out needs the system id
        self._sysid_param = self.params.get("MAV_SYSID")
        self.clock = SimClock(self.params["SIM_SPEEDUP"])
        self.sim_time = 0.0
        self._signing_key = bytes(signing_key) if signing_key else None
        self._signing_ts = signing_timestamp_now()
        self._stream_timestamps: dict = {}
        self.channels: list[Channel] = []
        self._next_link_id = 0
        self.host = host
        self._sel = selectors.DefaultSelector()
        self._listen = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._listen.bind((host, port))
        except OSError as exc:
            self._listen.close()
            raise SimulatorError(f"cannot listen on TCP {host}:{port}: {exc.strerror}") from exc
        self._listen.listen(8)
        self._listen.setblocking(False)
        self.port = self._listen.getsockname()[1]
        self._sel.register(self._listen, selectors.EVENT_READ, "listen")
        # A second port, as ArduPilot's SERIAL1 (a telemetry radio): the first one stands for
        # SERIAL0, which ArduPilot treats as USB and where it accepts unsigned messages even
        # once signing is set up; here unsigned ones are refused.
        self._listen1 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listen1.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listen1.bind((host, 0))
        self._listen1.listen(8)
        self._listen1.setblocking(False)
        self.telemetry_port = self._listen1.getsockname()[1]
        self._sel.register(self._listen1, selectors.EVENT_READ, "listen1")
        self._udp = None
        self._udp_peers: dict = {}
        if udp_port is not None or udp_out:
            self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                self._udp.bind((host if udp_port is not None else "0.0.0.0", udp_port or 0))
            except OSError as exc:
                self.close_sockets()
                raise SimulatorError(f"cannot bind UDP port {udp_port}: {exc.strerror}") from exc
            self._udp.setblocking(False)
            self.udp_port = self._udp.getsockname()[1]
            self._sel.register(self._udp, selectors.EVENT_READ, "udp")
            for target in udp_out or []:
                h, _, p = target.rpartition(":")
                try:
                    addr = (socket.gethostbyname(h or "127.0.0.1"), int(p))
                except (ValueError, OSError) as exc:
                    self.close_sockets()
                    raise SimulatorError(f"bad UDP output address {target!r}: "
                                         "expected HOST:PORT") from exc
                self._add_udp_peer(addr)
        else:
            self.udp_port = None
        self.vehicle = Vehicle(self.home, self.params, lambda: self.sim_time, self.send_text,
                               self.broadcast, boot_time_s=boot_time_s)
        self.protocols = {
            t: MissionItemProtocol(lst, lambda: self.sim_time, self.send_text,
                                   self._clear_refusal if t == M.MAV_MISSION_TYPE_MISSION
                                   else (lambda: None))
            for t, lst in ((M.MAV_MISSION_TYPE_MISSION, self.vehicle.mission),
                           (M.MAV_MISSION_TYPE_FENCE, self.vehicle.fence),
                           (M.MAV_MISSION_TYPE_RALLY, self.vehicle.rally))}
        self.protocols[M.MAV_MISSION_TYPE_MISSION].on_complete = self._mission_changed
        self._thread: threading.Thread | None = None
        self._running = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._last_hb_sim: dict[int, float] = {}
        self.error: BaseException | None = None
        self.send_errors: list[str] = []
        self.steps = 0
        self._calls: list[Callable[[], None]] = []
        self._calls_lock = threading.Lock()

    # --- public ----------------------------------------------------------------------------------
    @property
    def sysid(self) -> int:
        return int(self._sysid_param.value)

    @property
    def connection_string(self) -> str:
        return f"tcp:{self.host}:{self.port}"

    @property
    def telemetry_connection_string(self) -> str:
        return f"tcp:{self.host}:{self.telemetry_port}"

    @property
    def speedup(self) -> float:
        return self.clock.speedup

    def on_camera_trigger(self, callback: Callable[[CameraTrigger], None]) -> None:
        """Call ``callback(trigger)`` at every camera shot (from the vehicle thread)."""
        self.vehicle.camera_callbacks.append(callback)

    def call(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the vehicle thread at the next iteration (safe state changes)."""
        with self._calls_lock:
            self._calls.append(fn)
        self._wake()

    def start(self) -> BuiltinVehicleServer:
        if self._thread is not None:
            return self
        self._running = True
        self._thread = threading.Thread(target=self._run, name=f"builtin-vehicle:{self.port}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._running = False
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.close_sockets()

    def close_sockets(self) -> None:
        for ch in list(self.channels):
            if ch.kind == "tcp":
                try:
                    ch.sock.close()
                except OSError:
                    pass
        self.channels.clear()
        for s in (self._listen, getattr(self, "_listen1", None), self._udp,
                  getattr(self, "_wake_r", None),
                  getattr(self, "_wake_w", None)):
            if s is not None:
                try:
                    self._sel.unregister(s)
                except (KeyError, ValueError):
                    pass
                s.close()
        try:
            self._sel.close()
        except (OSError, RuntimeError):
            pass

    def __enter__(self) -> BuiltinVehicleServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    # --- signing ---------------------------------------------------------------------------------
    def _apply_signing(self, ch: Channel) -> None:
        s = ch.mav.signing
        s.stream_timestamps = self._stream_timestamps  # shared: no cross-channel replay
        if self._signing_key is None:
            s.secret_key = None
            s.sign_outgoing = False
            s.allow_unsigned_callback = None
            return
        s.secret_key = self._signing_key
        s.sign_outgoing = True
        s.link_id = ch.link_id & 0xFF
        s.timestamp = max(s.timestamp, self._signing_ts)
        usb = ch.usb
        s.allow_unsigned_callback = lambda mav, msgid: usb or msgid in UNSIGNED_OK

    def set_signing_key(self, key: bytes | None, initial_timestamp: int = 0) -> None:
        self._signing_key = bytes(key) if key and any(key) else None
        self._signing_ts = max(initial_timestamp, signing_timestamp_now())
        for ch in self.channels:
            self._apply_signing(ch)

    # --- output ----------------------------------------------------------------------------------
    def broadcast(self, msg) -> None:
        for ch in self.channels:
            ch.send(msg)

    def send_text(self, severity: int, text: str) -> None:
        self.broadcast(M.MAVLink_statustext_message(severity, text.encode()[:50], 0, 0))

    # --- the loop --------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while self._running:
                for key, _ in self._sel.select(timeout=0.004):
                    self._readable(key)
                with self._calls_lock:
                    calls, self._calls = self._calls, []
                for fn in calls:
                    fn()
                self._advance()
                for p in self.protocols.values():
                    p.update()
                self._telemetry()
                for ch in list(self.channels):
                    ch.flush()
        except BaseException as exc:  # keep the reason for the test/CLI that owns us
            self.error = exc
            raise

    def _advance(self) -> None:
        target = self.clock.now()
        steps = 0
        while self.sim_time < target and steps < 400:
            dt = min(MAX_STEP_S, target - self.sim_time)
            self.sim_time += dt
            self.vehicle.step(dt)
            steps += 1
        self.steps += steps
        if steps >= 400:  # could not keep up: slow the clock rather than jump
            self.clock._sim0 = self.sim_time
            self.clock._wall0 = time.monotonic()

    def _readable(self, key) -> None:
        tag = key.data
        if tag == "wake":
            try:
                self._wake_r.recv(4096)
            except OSError:
                pass
        elif tag in ("listen", "listen1"):
            try:
                conn, addr = (self._listen if tag == "listen" else self._listen1).accept()
            except OSError:
                return
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            ch = Channel(self, "tcp", conn, addr, self._new_link_id(), usb=tag == "listen")
            self.channels.append(ch)
            self._sel.register(conn, selectors.EVENT_READ, ch)
        elif tag == "udp":
            while True:
                try:
                    data, addr = self._udp.recvfrom(65536)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError:
                    return
                ch = self._udp_peers.get(addr) or self._add_udp_peer(addr)
                self._feed(ch, data)
        else:
            ch = tag
            try:
                data = ch.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self._close_channel(ch)
                return
            self._feed(ch, data)
            # answer now, not after the physics step and telemetry: a GCS waiting on a reply
            # (the next MISSION_REQUEST, an item) should not wait for the rest of the loop
            ch.flush()

    def _new_link_id(self) -> int:
        self._next_link_id += 1
        return self._next_link_id

    def _add_udp_peer(self, addr) -> Channel:
        ch = Channel(self, "udp", self._udp, addr, self._new_link_id())
        self._udp_peers[addr] = ch
        self.channels.append(ch)
        return ch

    def _close_channel(self, ch: Channel) -> None:
        if ch.closed:
            return
        ch.closed = True
        if ch in self.channels:
            self.channels.remove(ch)
        for p in self.protocols.values():
            p.drop_channel(ch)
        if ch.kind == "tcp":
            try:
                self._sel.unregister(ch.sock)
            except (KeyError, ValueError):
                pass
            ch.sock.close()

    def _feed(self, ch: Channel, data: bytes) -> None:
        msgs = ch.mav.parse_buffer(data) or []
        for msg in msgs:
            if msg.get_type() == "BAD_DATA":
                if "signature" in str(getattr(msg, "reason", "")):
                    ch.rejected += 1
                continue
            ch.received += 1
            try:
                self._handle(ch, msg)
            except SimulatorError:
                raise
            except Exception as exc:  # a malformed request must not kill the vehicle
                self.send_text(M.MAV_SEVERITY_ERROR, f"sim: {type(exc).__name__}: {exc}"[:50])

    # --- requests --------------------------------------------------------------------------------
    def _for_us(self, msg) -> bool:
        ts = getattr(msg, "target_system", None)
        return ts is None or ts == 0 or ts == self._sysid_param.value

    def _handle(self, ch: Channel, msg) -> None:
        t = msg.get_type()
        if not self._for_us(msg):
            return
        handler = MISSION_HANDLERS.get(t)
        if handler is not None:  # the mission protocol first: uploads are message-bound
            mtype = getattr(msg, "mission_type", 0)
            proto = self.protocols.get(mtype)
            if proto is not None:
                getattr(proto, handler)(ch, msg)
                return
            if t == "MISSION_CLEAR_ALL" and mtype == M.MAV_MISSION_TYPE_ALL:
                for proto in self.protocols.values():
                    proto.handle_clear_all(ch, msg)
                return
            ch.send(M.MAVLink_mission_ack_message(
                msg.get_srcSystem(), msg.get_srcComponent(), M.MAV_MISSION_UNSUPPORTED, mtype))
            return
        v = self.vehicle
        if t == "MISSION_SET_CURRENT":
            if v.set_mission_current(msg.seq):
                self.broadcast(v.mission_current_message())
        elif t == "PARAM_REQUEST_LIST":
            ch.param_queue = list(range(len(self.params)))
        elif t == "PARAM_REQUEST_READ":
            p = self.params.by_index(msg.param_index) if msg.param_index >= 0 else \
                self.params.get(_pname(msg.param_id))
            if p is not None:
                ch.send(self._param_value(p))
        elif t == "PARAM_SET":
            name = _pname(msg.param_id)
            p = self.params.set(name, msg.param_value)
            if p is not None:
                self._param_changed(name)
                self.broadcast(self._param_value(p))
        elif t == "COMMAND_LONG":
            result = self._command(ch, msg, msg.command,
                                   [msg.param1, msg.param2, msg.param3, msg.param4,
                                    msg.param5, msg.param6, msg.param7], is_int=False)
            if result is not None:
                ch.send(M.MAVLink_command_ack_message(msg.command, result, 0, 0,
                                                      msg.get_srcSystem(),
                                                      msg.get_srcComponent()))
        elif t == "COMMAND_INT":
            result = self._command(ch, msg, msg.command,
                                   [msg.param1, msg.param2, msg.param3, msg.param4,
                                    msg.x, msg.y, msg.z], is_int=True, frame=msg.frame)
            if result is not None:
                ch.send(M.MAVLink_command_ack_message(msg.command, result, 0, 0,
                                                      msg.get_srcSystem(),
                                                      msg.get_srcComponent()))
        elif t == "SET_MODE":
            ok = v.set_mode(msg.custom_mode) is None if \
                msg.base_mode & M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED else False
            # ArduPilot acks SET_MODE with a COMMAND_ACK whose command is SET_MODE's msgid (11)
            ch.send(M.MAVLink_command_ack_message(
                M.MAVLINK_MSG_ID_SET_MODE, M.MAV_RESULT_ACCEPTED if ok else M.MAV_RESULT_FAILED,
                0, 0, msg.get_srcSystem(), msg.get_srcComponent()))
        elif t == "REQUEST_DATA_STREAM":
            ids = []
            if msg.req_stream_id == M.MAV_DATA_STREAM_ALL:
                for group in STREAM_GROUPS.values():
                    ids += group
            else:
                ids = STREAM_GROUPS.get(msg.req_stream_id, [])
            for mid in ids:
                if msg.start_stop and msg.req_message_rate > 0:
                    ch.intervals[mid] = 1.0 / msg.req_message_rate
                    ch.next_due[mid] = self.sim_time
                else:
                    ch.intervals.pop(mid, None)
        elif t == "SETUP_SIGNING":
            key = bytes(msg.secret_key)
            self.set_signing_key(key if any(key) else None, msg.initial_timestamp)
        elif t == "FILE_TRANSFER_PROTOCOL":
            ch.send(self._ftp_refusal(msg))
        elif t == "SET_POSITION_TARGET_GLOBAL_INT":
            if not msg.type_mask & 0b111:
                alt = msg.alt
                if msg.coordinate_frame in (M.MAV_FRAME_GLOBAL, M.MAV_FRAME_GLOBAL_INT):
                    alt -= v.home_alt
                v.guided_goto(msg.lat_int / 1e7, msg.lon_int / 1e7, alt)

    def _ftp_refusal(self, msg):
        """Answer a MAVLink FTP request: this vehicle has no files.

        MAVProxy (and QGC with FTP parameter download on) first ask for ``@PARAM/param.pck`` by
        FTP; a NAK makes them fall back to PARAM_REQUEST_LIST at once instead of timing out.
        Session resets are ACKed, everything else NAKed (FileNotFound for opens).
        """
        req = bytes(msg.payload)
        seq = int.from_bytes(req[0:2], "little")
        session, opcode = req[2], req[3]
        out = bytearray(251)
        out[0:2] = ((seq + 1) & 0xFFFF).to_bytes(2, "little")
        out[2] = session
        out[5] = opcode
        if opcode in (FTP_TERMINATE_SESSION, FTP_RESET_SESSIONS):
            out[3] = FTP_ACK
        else:
            out[3] = FTP_NAK
            out[4] = 1
            out[12] = FTP_ERR_FILE_NOT_FOUND if opcode in FTP_OPENS else FTP_ERR_UNKNOWN_COMMAND
        return M.MAVLink_file_transfer_protocol_message(0, msg.get_srcSystem(),
                                                        msg.get_srcComponent(), list(out))

    def _param_value(self, p) -> object:
        return M.MAVLink_param_value_message(p.name.encode(), p.value, p.type, len(self.params),
                                             p.index)

    def _param_changed(self, name: str) -> None:
        if name == "SIM_SPEEDUP":
            self.clock.set_speedup(self.params["SIM_SPEEDUP"])
        elif name == "MAV_SYSID":
            for ch in self.channels:
                ch.mav.srcSystem = self.sysid

    def _clear_refusal(self) -> str | None:
        v = self.vehicle
        if v.armed and v.mode == MODES["AUTO"] and not v.landed:
            return "mission running"
        return None

    def _mission_changed(self) -> None:
        v = self.vehicle
        if v.mission.count() <= 1:
            v.mission_current = 0
        elif v.mission_current >= v.mission.count():
            v.mission_current = 1
        if v.mode != MODES["AUTO"] or v.nav is None:
            v.mission_state = M.MISSION_STATE_NOT_STARTED

    def _command(self, ch: Channel, msg, cmd: int, p: list[float], is_int: bool,
                 frame: int = 0) -> int | None:
        v = self.vehicle
        A, F = M.MAV_RESULT_ACCEPTED, M.MAV_RESULT_FAILED
        if cmd == M.MAV_CMD_COMPONENT_ARM_DISARM:
            force = int(round(p[1])) in (2989, 21196)
            if p[0] == 1:
                # ArduPilot acks first and its "Arm: ..." texts follow the ack
                said: list[tuple[int, str]] = []
                v.send_text = lambda sev, text: said.append((sev, text))
                try:
                    refused = v.arm(force=force)
                finally:
                    v.send_text = self.send_text
                ch.send(M.MAVLink_command_ack_message(cmd, F if refused else A, 0, 0,
                                                      msg.get_srcSystem(),
                                                      msg.get_srcComponent()))
                for sev, text in said:
                    self.send_text(sev, text)
                return None
            if p[0] == 0:
                return A if v.disarm(force=force) else F
            return M.MAV_RESULT_DENIED
        if cmd == M.MAV_CMD_DO_SET_MODE:
            if not int(p[0]) & M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
                return M.MAV_RESULT_UNSUPPORTED
            return A if v.set_mode(int(p[1])) is None else F
        if cmd == M.MAV_CMD_NAV_TAKEOFF:
            return A if v.takeoff(p[6]) else F
        if cmd == M.MAV_CMD_MISSION_START:
            return A if v.mission_start() else F
        if cmd == M.MAV_CMD_NAV_RETURN_TO_LAUNCH:
            return A if v.set_mode(MODES["RTL"]) is None else F
        if cmd == M.MAV_CMD_NAV_LAND:
            return A if v.set_mode(MODES["LAND"]) is None else F
        if cmd == M.MAV_CMD_DO_PAUSE_CONTINUE:
            return A if v.pause(int(p[0]) == 0) else F
        if cmd == M.MAV_CMD_DO_CHANGE_SPEED:
            return A if v.change_speed(p[1]) else F
        if cmd == M.MAV_CMD_DO_SET_MISSION_CURRENT:
            if v.set_mission_current(int(p[0])):
                self.broadcast(v.mission_current_message())
                return A
            return F
        if cmd == M.MAV_CMD_DO_SET_CAM_TRIGG_DIST:
            v.set_cam_trigg_dist(p[0], trigger_now=int(p[2]) == 1)
            return A
        if cmd == M.MAV_CMD_DO_DIGICAM_CONTROL:
            if int(p[4]) == 1:
                v.take_picture()
            return A
        if cmd == M.MAV_CMD_DO_FENCE_ENABLE:
            self.params.set("FENCE_ENABLE", 1 if int(p[0]) == 1 else 0)
            return A
        if cmd == M.MAV_CMD_DO_REPOSITION:
            lat = p[4] / 1e7 if is_int else p[4]
            lon = p[5] / 1e7 if is_int else p[5]
            alt = p[6]
            if frame in (M.MAV_FRAME_GLOBAL, M.MAV_FRAME_GLOBAL_INT):
                alt -= v.home_alt
            if v.mode != MODES["GUIDED"] and v.set_mode(MODES["GUIDED"]) is not None:
                return F
            return A if v.guided_goto(lat, lon, alt) else F
        if cmd == M.MAV_CMD_SET_MESSAGE_INTERVAL:
            mid, interval_us = int(p[0]), p[1]
            if interval_us < 0:
                ch.intervals.pop(mid, None)
            else:
                if self._builder(mid) is None:
                    return F
                ch.intervals[mid] = (interval_us / 1e6) if interval_us > 0 else 0.25
                ch.next_due[mid] = self.sim_time
            return A
        if cmd == M.MAV_CMD_GET_MESSAGE_INTERVAL:
            mid = int(p[0])
            iv = ch.intervals.get(mid)
            ch.send(M.MAVLink_message_interval_message(mid, int(iv * 1e6) if iv else -1))
            return A
        if cmd == M.MAV_CMD_REQUEST_MESSAGE:
            build = self._builder(int(p[0]))
            if build is None:
                return F
            ch.send(M.MAVLink_command_ack_message(cmd, A, 0, 0, msg.get_srcSystem(),
                                                  msg.get_srcComponent()))
            if int(p[0]) == M.MAVLINK_MSG_ID_PARAM_VALUE:
                return None
            ch.send(build())
            return None
        if cmd == M.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES:
            ch.send(M.MAVLink_command_ack_message(cmd, A, 0, 0, msg.get_srcSystem(),
                                                  msg.get_srcComponent()))
            ch.send(self._autopilot_version())
            return None
        if cmd == M.MAV_CMD_DO_SET_HOME:
            return M.MAV_RESULT_ACCEPTED if v.ready else F
        return M.MAV_RESULT_UNSUPPORTED

    # --- telemetry -------------------------------------------------------------------------------
    def _telemetry(self) -> None:
        now_sim = self.sim_time
        wall = time.monotonic()
        min_wall = 1.0 / MAX_STREAM_WALL_HZ
        hb = None
        for ch in self.channels:
            last = self._last_hb_sim.get(ch.link_id, -1e9)
            if now_sim - last >= 1.0 and wall - ch.last_wall.get(0, 0) >= min_wall:
                hb = hb or self._heartbeat()
                ch.send(hb)
                self._last_hb_sim[ch.link_id] = now_sim
                ch.last_wall[0] = wall
            if ch.param_queue:
                batch, ch.param_queue = ch.param_queue[:40], ch.param_queue[40:]
                for i in batch:
                    ch.send(self._param_value(self.params.by_index(i)))
            built: dict[int, object] = {}
            for mid, iv in ch.intervals.items():
                if now_sim < ch.next_due.get(mid, 0.0) or \
                        wall - ch.last_wall.get(mid, 0.0) < min_wall:
                    continue
                ch.next_due[mid] = max(ch.next_due.get(mid, 0.0) + iv, now_sim - iv)
                ch.last_wall[mid] = wall
                if mid not in built:
                    b = self._builder(mid)
                    built[mid] = b() if b else None
                if built[mid] is not None:
                    ch.send(built[mid])

    def _builder(self, mid: int):
        return self._builders.get(mid)

    @functools.cached_property
    def _builders(self) -> dict:
        # built once: the telemetry loop looks a builder up for every message it sends
        return {
            M.MAVLINK_MSG_ID_HEARTBEAT: self._heartbeat,
            M.MAVLINK_MSG_ID_SYS_STATUS: self._sys_status,
            M.MAVLINK_MSG_ID_GPS_RAW_INT: self._gps_raw,
            M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: self._global_position,
            M.MAVLINK_MSG_ID_LOCAL_POSITION_NED: self._local_position,
            M.MAVLINK_MSG_ID_ATTITUDE: self._attitude,
            M.MAVLINK_MSG_ID_VFR_HUD: self._vfr_hud,
            M.MAVLINK_MSG_ID_BATTERY_STATUS: self._battery_status,
            M.MAVLINK_MSG_ID_MISSION_CURRENT: self.vehicle.mission_current_message,
            M.MAVLINK_MSG_ID_HOME_POSITION: self.vehicle.home_position_message,
            M.MAVLINK_MSG_ID_AUTOPILOT_VERSION: self._autopilot_version,
            M.MAVLINK_MSG_ID_EKF_STATUS_REPORT: self._ekf_status,
            M.MAVLINK_MSG_ID_SYSTEM_TIME: self._system_time,
            M.MAVLINK_MSG_ID_PARAM_VALUE: lambda: None,
        }

    def _boot_ms(self) -> int:
        return int(self.sim_time * 1000) & 0xFFFFFFFF

    def _heartbeat(self):
        v = self.vehicle
        return M.MAVLink_heartbeat_message(M.MAV_TYPE_QUADROTOR, M.MAV_AUTOPILOT_ARDUPILOTMEGA,
                                           v.base_mode(), v.mode, v.system_status(), 3)

    def _sensors(self) -> tuple[int, int, int]:
        v = self.vehicle
        present = (M.MAV_SYS_STATUS_SENSOR_3D_GYRO | M.MAV_SYS_STATUS_SENSOR_3D_ACCEL
                   | M.MAV_SYS_STATUS_SENSOR_3D_MAG | M.MAV_SYS_STATUS_SENSOR_ABSOLUTE_PRESSURE
                   | M.MAV_SYS_STATUS_SENSOR_GPS | M.MAV_SYS_STATUS_SENSOR_ANGULAR_RATE_CONTROL
                   | M.MAV_SYS_STATUS_SENSOR_ATTITUDE_STABILIZATION
                   | M.MAV_SYS_STATUS_SENSOR_YAW_POSITION | M.MAV_SYS_STATUS_SENSOR_Z_ALTITUDE_CONTROL
                   | M.MAV_SYS_STATUS_SENSOR_XY_POSITION_CONTROL
                   | M.MAV_SYS_STATUS_SENSOR_MOTOR_OUTPUTS | M.MAV_SYS_STATUS_AHRS
                   | M.MAV_SYS_STATUS_SENSOR_BATTERY | M.MAV_SYS_STATUS_GEOFENCE
                   | M.MAV_SYS_STATUS_PREARM_CHECK)
        enabled = present & ~M.MAV_SYS_STATUS_GEOFENCE
        if int(self.params["FENCE_ENABLE"]):
            enabled |= M.MAV_SYS_STATUS_GEOFENCE
        health = present
        if not v.ready:
            health &= ~(M.MAV_SYS_STATUS_SENSOR_GPS | M.MAV_SYS_STATUS_AHRS)
        if v.fence_breached:
            health &= ~M.MAV_SYS_STATUS_GEOFENCE
        if v.batt_failsafe:
            health &= ~M.MAV_SYS_STATUS_SENSOR_BATTERY
        if v.armed or v.prearm_failures():
            health &= ~M.MAV_SYS_STATUS_PREARM_CHECK
        return present, enabled, health

    def _sys_status(self):
        present, enabled, health = self._sensors()
        b = self.vehicle.battery
        return M.MAVLink_sys_status_message(
            present, enabled, health, 200, int(b.voltage * 1000), int(b.current_a * 100),
            int(b.remaining_fraction * 100), 0, 0, 0, 0, 0, 0)

    def _gps_raw(self):
        v = self.vehicle
        lat, lon = v.lat_lon
        course = v.k.yaw if v.k.groundspeed < 0.2 else \
            math.degrees(math.atan2(v.k.ve, v.k.vn)) % 360
        cog = int(course * 100)
        return M.MAVLink_gps_raw_int_message(
            int(self.sim_time * 1e6), 3 if v.ready else 1, int(round(lat * 1e7)),
            int(round(lon * 1e7)), int(v.alt_msl * 1000), 121, 200,
            int(v.k.groundspeed * 100), cog, 10 if v.ready else 0)

    def _global_position(self):
        v = self.vehicle
        lat, lon = v.lat_lon
        return M.MAVLink_global_position_int_message(
            self._boot_ms(), int(round(lat * 1e7)), int(round(lon * 1e7)), int(v.alt_msl * 1000),
            int(v.alt_rel * 1000), int(v.k.vn * 100), int(v.k.ve * 100), int(-v.k.vu * 100),
            int(v.k.yaw * 100) % 36000)

    def _local_position(self):
        k = self.vehicle.k
        return M.MAVLink_local_position_ned_message(self._boot_ms(), k.n, k.e, -k.u, k.vn, k.ve,
                                                    -k.vu)

    def _attitude(self):
        k = self.vehicle.k
        yaw = math.radians(k.yaw)
        yaw = yaw - 2 * math.pi if yaw > math.pi else yaw
        return M.MAVLink_attitude_message(self._boot_ms(), math.radians(k.roll),
                                          math.radians(k.pitch), yaw, 0.0, 0.0, 0.0)

    def _vfr_hud(self):
        v = self.vehicle
        wind = wind_vector(self.params["SIM_WIND_SPD"], self.params["SIM_WIND_DIR"])
        air = math.hypot(*v.k.air_velocity(wind)) if not v.landed else 0.0
        thr = 0 if not v.armed else (15 if v.landed else 50)
        return M.MAVLink_vfr_hud_message(air, v.k.groundspeed, int(v.k.yaw) % 360, thr,
                                         v.alt_msl, v.k.vu)

    def _battery_status(self):
        b = self.vehicle.battery
        cells = [int(b.voltage * 1000)] + [65535] * 9
        return M.MAVLink_battery_status_message(
            0, M.MAV_BATTERY_FUNCTION_ALL, M.MAV_BATTERY_TYPE_LIPO, 32767, cells,
            int(b.current_a * 100), int(b.consumed_mah), int(b.consumed_wh * 36),
            int(b.remaining_fraction * 100))

    def _ekf_status(self):
        flags = 0
        if self.vehicle.boot_phase() == "ekf":
            # what SITL reports after tilt/yaw alignment, before it uses GPS (0x00a7)
            flags = (M.EKF_ATTITUDE | M.EKF_VELOCITY_HORIZ | M.EKF_VELOCITY_VERT
                     | M.EKF_POS_VERT_ABS | M.EKF_CONST_POS_MODE)
        elif self.vehicle.ready:
            flags = (M.EKF_ATTITUDE | M.EKF_VELOCITY_HORIZ | M.EKF_VELOCITY_VERT
                     | M.EKF_POS_HORIZ_REL | M.EKF_POS_HORIZ_ABS | M.EKF_POS_VERT_ABS
                     | M.EKF_PRED_POS_HORIZ_REL | M.EKF_PRED_POS_HORIZ_ABS)
        return M.MAVLink_ekf_status_report_message(flags, 0.01, 0.01, 0.01, 0.01, 0.0)

    def _system_time(self):
        return M.MAVLink_system_time_message(int(time.time() * 1e6), self._boot_ms())

    def _autopilot_version(self):
        return M.MAVLink_autopilot_version_message(
            CAPABILITIES, FIRMWARE_VERSION, 0, 0, 0, list(b"amurblt\0"), [0] * 8, [0] * 8,
            0x1209, 0x5740, 0x414D5552, [0] * 18)


def _pname(raw) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode(errors="replace")
    return raw.rstrip("\x00")
