"""Flying the simulated copter over a real socket: arming, AUTO, camera, failsafes, signing."""

from __future__ import annotations

import time

import pytest
from mavtest_helpers import (
    arm,
    command,
    connect,
    home_item,
    item,
    param_set,
    set_mode,
    upload,
    wait,
    wait_ready,
    wp,
)
from pymavlink.dialects.v20 import ardupilotmega as M

from simulators.builtin.flight import LocalFrame

pytestmark = pytest.mark.sitl
FAST = 60.0
GUIDED, AUTO, RTL, LAND = 4, 3, 6, 9


def _fly(m, timeout=30.0, until_disarmed=True):
    """Collect messages until the copter disarms; returns a dict of lists by type."""
    got: dict[str, list] = {}
    t0 = time.monotonic()
    armed_seen = False
    while time.monotonic() - t0 < timeout:
        msg = m.recv_match(type=["STATUSTEXT", "CAMERA_FEEDBACK", "MISSION_ITEM_REACHED",
                                 "HEARTBEAT", "GLOBAL_POSITION_INT"], blocking=True, timeout=1)
        if msg is None:
            continue
        got.setdefault(msg.get_type(), []).append(msg)
        if msg.get_type() == "HEARTBEAT":
            armed = bool(msg.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED)
            armed_seen |= armed
            if until_disarmed and armed_seen and not armed:
                return got
    raise AssertionError(f"flight did not end within {timeout} s; texts: "
                         + "; ".join(s.text for s in got.get("STATUSTEXT", [])))


def _takeoff_and_auto(m, alt=20.0):
    assert set_mode(m, GUIDED).result == M.MAV_RESULT_ACCEPTED
    arm(m)
    assert command(m, M.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, alt).result == 0
    assert set_mode(m, AUTO).result == M.MAV_RESULT_ACCEPTED


def _arm_attempt(m):
    """Ask to arm; return (first STATUSTEXT before the answer, COMMAND_ACK)."""
    m.mav.command_long_send(m.target_system, m.target_component,
                            M.MAV_CMD_COMPONENT_ARM_DISARM, 0, 1, 0, 0, 0, 0, 0, 0)
    text = None
    while True:
        msg = wait(m, ["STATUSTEXT", "COMMAND_ACK"], 5)
        assert msg is not None, "no answer to the arm command"
        if msg.get_type() == "STATUSTEXT":
            text = text or msg.text
        elif msg.command == M.MAV_CMD_COMPONENT_ARM_DISARM:
            return text, msg


def _texts(got):
    return [s.text for s in got.get("STATUSTEXT", [])]


def test_survey_leg_photos_match_leg_length_over_trigger_distance(vehicle_factory):
    v = vehicle_factory(speedup=FAST)
    shots = []
    if hasattr(v, "on_camera_trigger"):
        v.on_camera_trigger(shots.append)
    m = connect(v.connection_string)
    wait_ready(m)
    h = v.home
    f = LocalFrame(h[0], h[1])
    leg, dist = 400.0, 25.0
    items = [home_item(h), item(M.MAV_CMD_NAV_TAKEOFF, alt=30, frame=3),
             wp(*f.to_latlon(0, 0), 30), item(M.MAV_CMD_DO_SET_CAM_TRIGG_DIST, dist, 0, 1),
             wp(*f.to_latlon(leg, 0), 30), item(M.MAV_CMD_DO_SET_CAM_TRIGG_DIST, 0),
             item(M.MAV_CMD_NAV_RETURN_TO_LAUNCH)]
    assert upload(m, items).type == M.MAV_MISSION_ACCEPTED
    _takeoff_and_auto(m)
    got = _fly(m, 40)
    fb = got.get("CAMERA_FEEDBACK", [])
    expected = leg / dist + 1  # one at the start (param3=1), then every 25 m
    assert abs(len(fb) - expected) <= 1, f"{len(fb)} photos, expected ~{expected:.0f}"
    # each photo lies on the leg, about 25 m after the previous one
    norths = [f.to_ne(c.lat / 1e7, c.lng / 1e7)[0] for c in fb]
    gaps = [b - a for a, b in zip(norths, norths[1:], strict=False)]
    assert all(dist - 1.0 <= g <= dist + 1.0 for g in gaps), gaps
    assert all(abs(c.alt_rel - 30) < 1.0 for c in fb)
    assert [c.img_idx for c in fb] == list(range(1, len(fb) + 1))
    reached = [r.seq for r in got.get("MISSION_ITEM_REACHED", [])]
    assert reached == [1, 2, 4, 6], reached
    if hasattr(v, "on_camera_trigger"):
        assert len(shots) == len(fb)
        assert shots[0].lat == pytest.approx(fb[0].lat / 1e7, abs=1e-6)
    m.close()


def test_do_jump_repeats_and_loiter_turns_circle(vehicle_factory):
    v = vehicle_factory(speedup=FAST)
    m = connect(v.connection_string)
    wait_ready(m)
    h = v.home
    f = LocalFrame(h[0], h[1])
    items = [home_item(h), item(M.MAV_CMD_NAV_TAKEOFF, alt=15, frame=3),
             wp(*f.to_latlon(30, 0), 15), wp(*f.to_latlon(30, 30), 15),
             item(M.MAV_CMD_DO_JUMP, 2, 2),  # two more times round the square's corners
             (3, M.MAV_CMD_NAV_LOITER_TURNS, 2, 0, 20, 0, *f.to_latlon(0, 60), 15),
             item(M.MAV_CMD_NAV_LAND, frame=3)]
    assert upload(m, items).type == M.MAV_MISSION_ACCEPTED
    _takeoff_and_auto(m, 15)
    got = _fly(m, 40)
    reached = [r.seq for r in got["MISSION_ITEM_REACHED"]]
    assert reached == [1, 2, 3, 2, 3, 2, 3, 5, 6], reached
    texts = _texts(got)
    assert texts.count("Mission: 4 Jump to 2") == 2
    m.close()


def test_guided_takeoff_rtl_lands_and_disarms(vehicle_factory):
    v = vehicle_factory(speedup=FAST)
    m = connect(v.connection_string)
    wait_ready(m)
    assert set_mode(m, GUIDED).result == 0
    arm(m)
    assert command(m, M.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 25).result == 0
    m.mav.request_data_stream_send(m.target_system, m.target_component,
                                   M.MAV_DATA_STREAM_POSITION, 5, 1)
    top = wait(m, "GLOBAL_POSITION_INT", 20, lambda g: g.relative_alt > 24000)
    assert top is not None, "never reached 25 m"
    assert command(m, M.MAV_CMD_NAV_RETURN_TO_LAUNCH).result == 0
    hb = wait(m, "HEARTBEAT", 5, lambda h: h.custom_mode == RTL)
    assert hb is not None
    _fly(m, 30)
    m.close()


def test_arming_refusals_say_why(vehicle_factory):
    v = vehicle_factory(speedup=10.0)
    m = connect(v.connection_string)
    wait_ready(m)
    h = v.home
    assert upload(m, [home_item(h), item(M.MAV_CMD_NAV_TAKEOFF, alt=10, frame=3)]).type == 0
    assert set_mode(m, AUTO).result == 0
    text, ack = _arm_attempt(m)
    assert ack.result == M.MAV_RESULT_FAILED
    assert text == "Arm: Mode not armable"
    # a fence the copter is outside of
    d = 0.001
    fence = [item(M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION, 4, lat=h[0] + 0.01 + a,
                  lon=h[1] + b, frame=5) for a, b in ((-d, -d), (-d, d), (d, d), (d, -d))]
    assert upload(m, fence, mission_type=1).type == 0
    param_set(m, "FENCE_ENABLE", 1, M.MAV_PARAM_TYPE_INT8)
    assert set_mode(m, GUIDED).result == 0
    text, ack = _arm_attempt(m)
    assert ack.result == M.MAV_RESULT_FAILED
    assert text.startswith("PreArm: Fence") and "breaching" in text, text
    m.close()


def test_fence_breach_triggers_rtl(vehicle_factory):
    v = vehicle_factory(speedup=FAST, params={"FENCE_ENABLE": 1, "FENCE_TYPE": 2,
                                              "FENCE_RADIUS": 100.0, "FENCE_ACTION": 1})
    m = connect(v.connection_string)
    wait_ready(m)
    h = v.home
    f = LocalFrame(h[0], h[1])
    items = [home_item(h), item(M.MAV_CMD_NAV_TAKEOFF, alt=20, frame=3),
             wp(*f.to_latlon(300, 0), 20)]
    assert upload(m, items).type == 0
    _takeoff_and_auto(m)
    got = _fly(m, 40)
    texts = _texts(got)
    assert any(t.startswith("Fence Breached") for t in texts), texts
    hb_modes = [hb.custom_mode for hb in got["HEARTBEAT"]]
    assert RTL in hb_modes
    far = max(f.to_ne(g.lat / 1e7, g.lon / 1e7)[0] for g in got.get("GLOBAL_POSITION_INT", [])
              ) if got.get("GLOBAL_POSITION_INT") else None
    assert far is None or far < 160
    m.close()


def test_low_battery_failsafe_returns_home(vehicle_factory):
    v = vehicle_factory(speedup=FAST, params={"BATT_CAPACITY": 3300, "BATT_LOW_MAH": 3200,
                                              "BATT_FS_LOW_ACT": 2})
    m = connect(v.connection_string)
    wait_ready(m)
    h = v.home
    f = LocalFrame(h[0], h[1])
    items = [home_item(h), item(M.MAV_CMD_NAV_TAKEOFF, alt=20, frame=3),
             wp(*f.to_latlon(2000, 0), 20)]
    assert upload(m, items).type == 0
    _takeoff_and_auto(m)
    got = _fly(m, 40)
    texts = _texts(got)
    assert any(t.startswith("Battery 1 is low") for t in texts), texts
    assert RTL in [hb.custom_mode for hb in got["HEARTBEAT"]]
    m.close()


def test_signing_rejects_unsigned_and_wrong_key(vehicle_factory, vehicle_backend):
    if vehicle_backend != "builtin":
        pytest.skip("SITL accepts unsigned packets on its first port (USB rule); "
                    "this test needs the built-in vehicle's per-connection signing")
    key = bytes(range(32))
    v = vehicle_factory(speedup=5.0, signing_key=key)
    good = connect(v.connection_string, timeout=5)  # heartbeats arrive (signed) regardless
    good.setup_signing(key, sign_outgoing=True)
    ack = command(good, M.MAV_CMD_REQUEST_MESSAGE, M.MAVLINK_MSG_ID_AUTOPILOT_VERSION)
    assert ack is not None and ack.result == 0
    forger = connect(v.connection_string, timeout=5)
    ack = command(forger, M.MAV_CMD_REQUEST_MESSAGE, M.MAVLINK_MSG_ID_AUTOPILOT_VERSION,
                  timeout=1.5)
    assert ack is None, "an unsigned command was obeyed"
    wrong = connect(v.connection_string, timeout=5)
    wrong.setup_signing(bytes(32 * [7]), sign_outgoing=True)
    ack = command(wrong, M.MAV_CMD_REQUEST_MESSAGE, M.MAVLINK_MSG_ID_AUTOPILOT_VERSION,
                  timeout=1.5)
    assert ack is None, "a command signed with the wrong key was obeyed"
    assert sum(ch.rejected for ch in v.server.channels) >= 2
    for c in (good, forger, wrong):
        c.close()
