"""A minimal ArduPilot-like MAVLink peer on a real TCP socket, for the cases the simulator
cannot play: a vehicle that answers unsigned, one that corrupts what it stores, one that stops
answering mid-upload, one that refuses with an error ack.

It answers the mission protocol the way ArduPilot does (plain MISSION_REQUEST, re-request after a
pause, INVALID_SEQUENCE for a wrong seq, old list cut as soon as MISSION_COUNT arrives, storage
rounding), heartbeats, AUTOPILOT_VERSION, and parameters (unknown names get no reply).
"""

from __future__ import annotations

import socket
import threading
import time

from pymavlink.dialects.v20 import ardupilotmega as mavlink

GLOBAL_FRAMES = {0, 3, 10, 5, 6, 11}
INT_TO_FLOAT = {5: 0, 6: 3, 11: 10}


class _Out:
    def __init__(self):
        self.sock = None

    def write(self, buf):
        if self.sock is not None:
            try:
                self.sock.sendall(buf)
            except OSError:
                pass


class Peer:
    """Run with ``with Peer(...) as p: connect(p.connection_string)``.

    Parameters
    ----------
    signing_key : bytes, optional
        Sign everything and accept only signed commands.
    stop_after : int, optional
        Stop answering a mission upload after storing this many items (a GCS-visible hang).
    refuse : int, optional
        Answer MISSION_COUNT with this MAV_MISSION_RESULT error ack.
    corrupt_seq : int, optional
        Store this mission seq with its altitude off by 5 m.
    """

    def __init__(self, signing_key: bytes | None = None, stop_after: int | None = None,
                 refuse: int | None = None, corrupt_seq: int | None = None,
                 capacity: int = 650, rerequest_s: float = 0.3):
        self.signing_key = signing_key
        self.stop_after = stop_after
        self.refuse = refuse
        self.corrupt_seq = corrupt_seq
        self.capacity = capacity
        self.rerequest_s = rerequest_s
        self.lists: dict[int, list] = {0: [self._home()], 1: [], 2: []}
        self.params = {"FENCE_ENABLE": 0.0, "FENCE_ACTION": 1.0, "WPNAV_SPEED": 500.0,
                       "BATT_CAPACITY": 5200.0, "MAV_SYSID": 1.0}
        self.received: list[str] = []  # message types seen (accepted ones)
        self.rejected = 0
        self._srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._srv.bind(("127.0.0.1", 0))
        self._srv.listen(4)
        self.port = self._srv.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def connection_string(self) -> str:
        return f"tcp:127.0.0.1:{self.port}"

    def _home(self):
        return dict(command=16, frame=0, p=[0.0] * 4, x=int(43.1 * 1e7), y=int(131.5 * 1e7),
                    z=120.0)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._srv.close()
        self._thread.join(timeout=5)

    # --- serving ----------------------------------------------------------------------
    def _serve(self):
        self._srv.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._srv.accept()
            except OSError:
                continue
            try:
                self._session(conn)
            finally:
                conn.close()

    def _session(self, conn):
        out = _Out()
        out.sock = conn
        mav = mavlink.MAVLink(out, srcSystem=1, srcComponent=1)
        mav.WIRE_PROTOCOL_VERSION = "2.0"
        if self.signing_key:
            mav.signing.secret_key = self.signing_key
            mav.signing.sign_outgoing = True
            mav.signing.link_id = 0
            mav.signing.timestamp = int((time.time() - 1420070400) * 1e5)
            mav.signing.allow_unsigned_callback = lambda m, msgid: False
        conn.settimeout(0.02)
        st = {"upload": None, "last_hb": 0.0}
        while not self._stop.is_set():
            now = time.monotonic()
            if now - st["last_hb"] > 0.5:
                st["last_hb"] = now
                mav.heartbeat_send(mavlink.MAV_TYPE_QUADROTOR, mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA,
                                   mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, 0,
                                   mavlink.MAV_STATE_STANDBY)
            up = st["upload"]
            if up and now - up["last"] > self.rerequest_s and not up["stalled"]:
                up["last"] = now
                mav.mission_request_send(255, 190, up["next"], up["type"])
            try:
                data = conn.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            try:
                msgs = mav.parse_buffer(data) or []
            except mavlink.MAVError:
                msgs = []
            for m in msgs:
                if m.get_type() == "BAD_DATA":
                    self.rejected += 1
                    continue
                self.received.append(m.get_type())
                self._handle(mav, m, st)

    def _handle(self, mav, m, st):
        t = m.get_type()
        if t == "MISSION_COUNT":
            mt = m.mission_type
            if self.refuse is not None:
                mav.mission_ack_send(255, 190, self.refuse, mt, 0)
                return
            if m.count > self.capacity:
                mav.statustext_send(mavlink.MAV_SEVERITY_WARNING,
                                    f"Only {self.capacity} items are supported".encode())
                mav.mission_ack_send(255, 190, mavlink.MAV_MISSION_NO_SPACE, mt, 0)
                return
            # ArduPilot cuts the old list as soon as the count arrives.
            keep = self.lists[mt][:1] if mt == 0 else []
            self.lists[mt] = keep
            if m.count == 0:
                mav.mission_ack_send(255, 190, mavlink.MAV_MISSION_ACCEPTED, mt, 0)
                return
            st["upload"] = {"type": mt, "count": m.count, "next": 0, "items": [],
                            "last": time.monotonic(), "stalled": False}
            mav.mission_request_send(255, 190, 0, mt)
        elif t == "MISSION_ITEM_INT":
            up = st["upload"]
            if not up or m.mission_type != up["type"]:
                mav.mission_ack_send(255, 190, mavlink.MAV_MISSION_ERROR, m.mission_type, 0)
                return
            if m.seq != up["next"]:
                mav.mission_ack_send(255, 190, mavlink.MAV_MISSION_INVALID_SEQUENCE, up["type"], 0)
                return
            if self.stop_after is not None and m.seq >= self.stop_after:
                up["stalled"] = True
                return
            up["items"].append(self._store(m))
            up["next"] += 1
            up["last"] = time.monotonic()
            if up["next"] == up["count"]:
                mt = up["type"]
                self.lists[mt] = up["items"] if mt else [self.lists[0][0]] + up["items"][1:]
                st["upload"] = None
                mav.mission_ack_send(255, 190, mavlink.MAV_MISSION_ACCEPTED, mt, 0)
            else:
                mav.mission_request_send(255, 190, up["next"], up["type"])
        elif t == "MISSION_REQUEST_LIST":
            mav.mission_count_send(255, 190, len(self.lists[m.mission_type]), m.mission_type, 0)
        elif t in ("MISSION_REQUEST_INT", "MISSION_REQUEST"):
            items = self.lists[m.mission_type]
            if m.seq >= len(items):
                mav.mission_ack_send(255, 190, mavlink.MAV_MISSION_INVALID_SEQUENCE,
                                     m.mission_type, 0)
                return
            it = items[m.seq]
            mav.mission_item_int_send(255, 190, m.seq, it["frame"], it["command"], 0, 1,
                                      *it["p"], it["x"], it["y"], it["z"], m.mission_type)
        elif t == "MISSION_CLEAR_ALL":
            self.lists[m.mission_type] = self.lists[0][:1] if m.mission_type == 0 else []
            mav.mission_ack_send(255, 190, mavlink.MAV_MISSION_ACCEPTED, m.mission_type, 0)
        elif t == "COMMAND_LONG":
            if m.command == mavlink.MAV_CMD_REQUEST_MESSAGE and int(m.param1) == 148:
                mav.command_ack_send(m.command, mavlink.MAV_RESULT_ACCEPTED)
                mav.autopilot_version_send(0, (4 << 24) | (7 << 16) | (0 << 8), 0, 0, 0,
                                           [0] * 8, [0] * 8, [0] * 8, 0, 0, 0, [0] * 18)
            else:
                mav.command_ack_send(m.command, mavlink.MAV_RESULT_ACCEPTED)
        elif t == "PARAM_REQUEST_READ":
            name = m.param_id
            names = list(self.params)
            if m.param_index >= 0 and m.param_index < len(names):
                name = names[m.param_index]
            if name in self.params:
                self._param(mav, name)
        elif t == "PARAM_REQUEST_LIST":
            for name in self.params:
                self._param(mav, name)
        elif t == "PARAM_SET":
            if m.param_id in self.params:
                self.params[m.param_id] = float(m.param_value)
                self._param(mav, m.param_id)

    def _param(self, mav, name):
        names = list(self.params)
        mav.param_value_send(name.encode(), self.params[name], mavlink.MAV_PARAM_TYPE_REAL32,
                             len(names), names.index(name))

    def _store(self, m):
        # ArduPilot storage: float frame, cm altitude, waypoint p1 whole seconds, p2/p4 gone.
        p = [m.param1, m.param2, m.param3, m.param4]
        if m.command == 16:
            p = [float(int(p[0])), 0.0, p[2], 0.0]
        z = round(m.z * 100) / 100
        if self.corrupt_seq is not None and m.seq == self.corrupt_seq:
            z += 5.0
        return dict(command=m.command, frame=INT_TO_FLOAT.get(m.frame, m.frame), p=p,
                    x=m.x, y=m.y, z=z)
