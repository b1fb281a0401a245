"""Raw-pymavlink helpers for the simulator tests (a GCS written from the MAVLink spec)."""

from __future__ import annotations

import time

from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as M

GCS_SYSID = 245


def connect(conn_str: str, timeout: float = 15.0, **kw):
    m = mavutil.mavlink_connection(conn_str, source_system=GCS_SYSID, source_component=190,
                                   autoreconnect=False, **kw)
    hb = m.recv_match(type="HEARTBEAT", blocking=True, timeout=timeout)
    assert hb is not None, f"no HEARTBEAT from {conn_str} within {timeout} s"
    m.target_system = hb.get_srcSystem()
    m.target_component = hb.get_srcComponent()
    return m


def wait(m, types, timeout=5.0, cond=None):
    deadline = time.monotonic() + timeout
    types = [types] if isinstance(types, str) else list(types)
    while time.monotonic() < deadline:
        msg = m.recv_match(type=types, blocking=True, timeout=max(0.01, deadline - time.monotonic()))
        if msg is not None and (cond is None or cond(msg)):
            return msg
    return None


def param_set(m, name: str, value: float, ptype=M.MAV_PARAM_TYPE_REAL32):
    m.mav.param_set_send(m.target_system, m.target_component, name.encode(), value, ptype)
    got = wait(m, "PARAM_VALUE", 5, lambda p: p.param_id == name)
    assert got is not None, f"no PARAM_VALUE after setting {name}"
    return got


def upload(m, items, mission_type=0, timeout=20.0, autocontinue=None):
    """Upload MISSION_ITEM_INT tuples (frame, command, p1..p4, lat, lon, alt); return the ack.
    ``autocontinue``: one value per item (default 1 for all)."""
    m.mav.mission_count_send(m.target_system, m.target_component, len(items), mission_type)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = wait(m, ["MISSION_REQUEST", "MISSION_REQUEST_INT", "MISSION_ACK"], 3,
                   lambda x: x.mission_type == mission_type)
        if msg is None:
            # Silence: the count was lost, or the closing ACK was (the vehicle, done, asks for
            # nothing more).  Say the count again: a fresh transfer ends in a fresh ACK.
            m.mav.mission_count_send(m.target_system, m.target_component, len(items),
                                     mission_type)
            continue
        if msg.get_type() == "MISSION_ACK":
            if msg.type == M.MAV_MISSION_INVALID_SEQUENCE:
                continue  # ArduPilot's non-fatal "not that one" answer
            return msg
        frame, cmd, p1, p2, p3, p4, lat, lon, alt = items[msg.seq]
        ac = 1 if autocontinue is None else autocontinue[msg.seq]
        m.mav.mission_item_int_send(m.target_system, m.target_component, msg.seq, frame, cmd,
                                    0, ac, p1, p2, p3, p4, int(round(lat * 1e7)),
                                    int(round(lon * 1e7)), alt, mission_type)
    raise AssertionError("upload did not finish")


def download(m, mission_type=0):
    # The request list is re-sent as a ground station does: on a lossy link (test_faults) the
    # request or its MISSION_COUNT can be dropped, as can any item request below.
    for _ in range(5):
        m.mav.mission_request_list_send(m.target_system, m.target_component, mission_type)
        count = wait(m, "MISSION_COUNT", 2, lambda x: x.mission_type == mission_type)
        if count is not None:
            break
    assert count is not None, "no MISSION_COUNT"
    out = []
    for seq in range(count.count):
        for _ in range(5):
            m.mav.mission_request_int_send(m.target_system, m.target_component, seq, mission_type)
            it = wait(m, "MISSION_ITEM_INT", 2, lambda x, s=seq: x.seq == s)
            if it is not None:
                out.append(it)
                break
        else:
            raise AssertionError(f"item {seq} never came")
    m.mav.mission_ack_send(m.target_system, m.target_component, 0, mission_type)
    return out


def command(m, cmd, *params, timeout=5.0):
    p = list(params) + [0.0] * (7 - len(params))
    m.mav.command_long_send(m.target_system, m.target_component, cmd, 0, *p)
    return wait(m, "COMMAND_ACK", timeout, lambda a: a.command == cmd)


def set_mode(m, mode: int):
    return command(m, M.MAV_CMD_DO_SET_MODE, M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, mode)


def request_streams(m, rate_hz=10):
    m.mav.request_data_stream_send(m.target_system, m.target_component,
                                   M.MAV_DATA_STREAM_ALL, rate_hz, 1)


def wait_ready(m, timeout=60.0):
    """Wait until the vehicle accepts arming checks (EKF/GPS ready): GPS fix 3."""
    request_streams(m, 4)
    got = wait(m, "GPS_RAW_INT", timeout, lambda g: g.fix_type >= 3)
    assert got is not None, "vehicle never got a 3D GPS fix"
    got = wait(m, "SYS_STATUS", timeout,
               lambda s: s.onboard_control_sensors_health & M.MAV_SYS_STATUS_PREARM_CHECK)
    assert got is not None, "vehicle never passed its pre-arm checks"


def arm(m, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ack = command(m, M.MAV_CMD_COMPONENT_ARM_DISARM, 1)
        if ack is not None and ack.result == M.MAV_RESULT_ACCEPTED:
            return
        time.sleep(0.2)
    raise AssertionError("vehicle would not arm")


def wp(lat, lon, alt, hold=0.0, frame=M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT):
    return (frame, M.MAV_CMD_NAV_WAYPOINT, hold, 0, 0, 0, lat, lon, alt)


def item(cmd, p1=0.0, p2=0.0, p3=0.0, p4=0.0, lat=0.0, lon=0.0, alt=0.0, frame=2):
    return (frame, cmd, p1, p2, p3, p4, lat, lon, alt)


def home_item(home):
    return (M.MAV_FRAME_GLOBAL_INT, M.MAV_CMD_NAV_WAYPOINT, 0, 0, 0, 0, home[0], home[1], home[2])
