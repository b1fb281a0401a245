"""MAVLink2 over TCP and UDP for the built-in copter: channels, streams, params, commands.

One thread runs everything (sockets, the flight model, the mission protocol, telemetry), so
the vehicle state needs no locks; other threads only read snapshots or call :meth:`stop`.

Each TCP client and each UDP peer is a channel, as each serial port is on ArduPilot: its own
message intervals (streams start off; heartbeats are always sent), its own sequence numbers,
and the vehicle's signing key.  Rates are in simulated time, as on SITL, but no stream is sent
faster than 50 Hz of wall time so a high speed-up does not flood a GCS.
"""

from __future__ import annotations

import errno
import selectors
import socket
import threading
import time
from collections.abc import Callable

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from uav.errors import SimulatorError

from .channel import Channel, SimClock, signing_timestamp_now
from .commands import Commands
from .gcs_answers import GcsAnswers
from .mission_protocol import MissionItemProtocol
from .params import ParamTable
from .telemetry import Telemetry
from .vehicle import MODES, CameraTrigger, Vehicle

M = mavlink

MAX_STEP_S = 0.05          # simulated seconds per physics step
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

# mission protocol messages -> the MissionItemProtocol method that answers them
MISSION_HANDLERS = {
    "MISSION_COUNT": "handle_count", "MISSION_ITEM": "handle_item",
    "MISSION_ITEM_INT": "handle_item", "MISSION_REQUEST_LIST": "handle_request_list",
    "MISSION_REQUEST": "handle_request", "MISSION_REQUEST_INT": "handle_request",
    "MISSION_CLEAR_ALL": "handle_clear_all",
}



class BuiltinVehicleServer(Commands, GcsAnswers, Telemetry):
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
            hint = ""
            if exc.errno == errno.EADDRINUSE:
                hint = (f" (another simulator, SITL or program holds port {port}: stop it, or "
                        "start this one on another with `uav sim start --port PORT`, 0 for any "
                        "free port)")
            raise SimulatorError(f"cannot listen on TCP {host}:{port}: {exc.strerror}{hint}") \
                from exc
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
        if handler is not None and self.is_fly_here(msg):
            self._fly_here(ch, msg)  # a GUIDED target, not an upload
            return
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
            self._param_set(_pname(msg.param_id), msg.param_value)
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

    def _param_value(self, p) -> object:
        p = self._live_value(p)  # MIS_TOTAL follows the mission
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

def _pname(raw) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode(errors="replace")
    return raw.rstrip("\x00")
