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

from uav.geo import TangentPlane

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
    """Ask to arm; return (first arming STATUSTEXT, COMMAND_ACK).  ArduPilot sends the ack
    first and its "Arm: ..." texts right after it."""
    while m.recv_match(blocking=False) is not None:
        pass  # texts from before the attempt
    m.mav.command_long_send(m.target_system, m.target_component,
                            M.MAV_CMD_COMPONENT_ARM_DISARM, 0, 1, 0, 0, 0, 0, 0, 0)
    text, ack, deadline = None, None, time.monotonic() + 5
    while time.monotonic() < deadline:
        msg = wait(m, ["STATUSTEXT", "COMMAND_ACK"], 0.5)
        if msg is None:
            if ack is not None:
                break
            continue
        if msg.get_type() == "STATUSTEXT" and msg.text.startswith("Arm: "):
            text = text or msg.text
            if ack is not None:
                break
        elif msg.get_type() == "COMMAND_ACK" and msg.command == M.MAV_CMD_COMPONENT_ARM_DISARM:
            ack = msg
            deadline = min(deadline, time.monotonic() + 1.0)
    assert ack is not None, "no answer to the arm command"
    return text, ack


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
    f = TangentPlane(h[1], h[0])
    leg, dist = 400.0, 25.0
    items = [home_item(h), item(M.MAV_CMD_NAV_TAKEOFF, alt=30, frame=3),
             wp(*f.latlon_at(0, 0), 30), item(M.MAV_CMD_DO_SET_CAM_TRIGG_DIST, dist, 0, 1),
             wp(*f.latlon_at(leg, 0), 30), item(M.MAV_CMD_DO_SET_CAM_TRIGG_DIST, 0),
             item(M.MAV_CMD_NAV_RETURN_TO_LAUNCH)]
    assert upload(m, items).type == M.MAV_MISSION_ACCEPTED
    _takeoff_and_auto(m)
    got = _fly(m, 40)
    fb = got.get("CAMERA_FEEDBACK", [])
    expected = leg / dist + 1  # one at the start (param3=1), then every 25 m
    assert abs(len(fb) - expected) <= 1, f"{len(fb)} photos, expected ~{expected:.0f}"
    # each photo lies on the leg, about 25 m after the previous one
    norths = [f.to_metric(c.lng / 1e7, c.lat / 1e7)[1] for c in fb]
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
    f = TangentPlane(h[1], h[0])
    items = [home_item(h), item(M.MAV_CMD_NAV_TAKEOFF, alt=15, frame=3),
             wp(*f.latlon_at(30, 0), 15), wp(*f.latlon_at(30, 30), 15),
             item(M.MAV_CMD_DO_JUMP, 2, 2),  # two more times round the square's corners
             (3, M.MAV_CMD_NAV_LOITER_TURNS, 2, 0, 20, 0, *f.latlon_at(0, 60), 15),
             item(M.MAV_CMD_NAV_LAND, frame=3)]
    assert upload(m, items).type == M.MAV_MISSION_ACCEPTED
    _takeoff_and_auto(m, 15)
    got = _fly(m, 40)
    reached = [r.seq for r in got["MISSION_ITEM_REACHED"]]
    assert reached == [1, 2, 3, 2, 3, 2, 3, 5], reached  # LAND: disarmed, never "reached"
    texts = _texts(got)
    # AP_Mission's words (SITL 4.7)
    assert [t for t in texts if "Jump" in t] == ["Mission: 4 Jump 1/2", "Mission: 4 Jump 2/2"], \
        "|".join(texts)
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
    assert text == "Arm: AUTO mode not armable", text
    # a fence the copter is outside of
    d = 0.001
    fence = [item(M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION, 4, lat=h[0] + 0.01 + a,
                  lon=h[1] + b, frame=5) for a, b in ((-d, -d), (-d, d), (d, d), (d, -d))]
    assert upload(m, fence, mission_type=1).type == 0
    param_set(m, "FENCE_ENABLE", 1, M.MAV_PARAM_TYPE_INT8)
    assert set_mode(m, GUIDED).result == 0
    time.sleep(0.5)  # ArduPilot's fence takes up FENCE_ENABLE at its next update
    text, ack = _arm_attempt(m)
    assert ack.result == M.MAV_RESULT_FAILED
    # AC_Fence::pre_arm_check's wording; AP_Arming says "Arm: " when asked to arm
    assert text == "Arm: Vehicle breaching Polygon fence", text
    m.close()


def test_fence_breach_triggers_rtl(vehicle_factory):
    v = vehicle_factory(speedup=FAST, params={"FENCE_ENABLE": 1, "FENCE_TYPE": 2,
                                              "FENCE_RADIUS": 100.0, "FENCE_ACTION": 1})
    m = connect(v.connection_string)
    wait_ready(m)
    h = v.home
    f = TangentPlane(h[1], h[0])
    items = [home_item(h), item(M.MAV_CMD_NAV_TAKEOFF, alt=20, frame=3),
             wp(*f.latlon_at(300, 0), 20)]
    assert upload(m, items).type == 0
    _takeoff_and_auto(m)
    got = _fly(m, 40)
    texts = _texts(got)
    assert "Circle fence breached" in texts, texts  # AC_Fence::print_fence_message
    hb_modes = [hb.custom_mode for hb in got["HEARTBEAT"]]
    assert RTL in hb_modes
    far = max(f.to_metric(g.lon / 1e7, g.lat / 1e7)[1] for g in got.get("GLOBAL_POSITION_INT", [])
              ) if got.get("GLOBAL_POSITION_INT") else None
    assert far is None or far < 160
    m.close()


def test_low_battery_failsafe_returns_home(vehicle_factory):
    v = vehicle_factory(speedup=FAST, params={"BATT_CAPACITY": 3300, "BATT_LOW_MAH": 3200,
                                              "BATT_FS_LOW_ACT": 2})
    m = connect(v.connection_string)
    wait_ready(m)
    h = v.home
    f = TangentPlane(h[1], h[0])
    items = [home_item(h), item(M.MAV_CMD_NAV_TAKEOFF, alt=20, frame=3),
             wp(*f.latlon_at(2000, 0), 20)]
    assert upload(m, items).type == 0
    _takeoff_and_auto(m)
    got = _fly(m, 40)
    texts = _texts(got)
    assert any(t.startswith("Battery 1 is low") for t in texts), texts
    assert RTL in [hb.custom_mode for hb in got["HEARTBEAT"]]
    m.close()


def _drain(m, seconds: float = 1.0) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        m.recv_match(blocking=True, timeout=0.1)


def test_signing_rejects_unsigned_and_wrong_key(vehicle_factory, vehicle_backend):
    """Once signed, the telemetry port (SERIAL1) obeys only the key; SERIAL0 (USB on
    ArduPilot) still takes unsigned messages, on both backends."""
    key = bytes(range(32))
    v = vehicle_factory(speedup=5.0)
    usb = connect(v.connection_string, timeout=5)
    usb.mav.setup_signing_send(usb.target_system, usb.target_component, list(key),
                               int((time.time() - 1420070400) * 1e5))
    time.sleep(0.5)
    # one client at a time: SITL's TCP serial ports take a single connection
    rejected = 0
    good = connect(v.telemetry_connection_string, timeout=5)  # heartbeats arrive regardless
    good.setup_signing(key, sign_outgoing=True)
    ack = command(good, M.MAV_CMD_REQUEST_MESSAGE, M.MAVLINK_MSG_ID_AUTOPILOT_VERSION)
    assert ack is not None and ack.result == 0
    good.close()
    forger = connect(v.telemetry_connection_string, timeout=5)
    _drain(forger)  # what SITL queued for the last client
    ack = command(forger, M.MAV_CMD_REQUEST_MESSAGE, M.MAVLINK_MSG_ID_AUTOPILOT_VERSION,
                  timeout=1.5)
    assert ack is None, "an unsigned command was obeyed"
    if vehicle_backend == "builtin":
        rejected += sum(ch.rejected for ch in v.server.channels)
    forger.close()
    wrong = connect(v.telemetry_connection_string, timeout=5)
    wrong.setup_signing(bytes(32 * [7]), sign_outgoing=True)
    _drain(wrong)
    ack = command(wrong, M.MAV_CMD_REQUEST_MESSAGE, M.MAVLINK_MSG_ID_AUTOPILOT_VERSION,
                  timeout=1.5)
    assert ack is None, "a command signed with the wrong key was obeyed"
    if vehicle_backend == "builtin":
        rejected += sum(ch.rejected for ch in v.server.channels)
        assert rejected >= 2
    wrong.close()
    ack = command(usb, M.MAV_CMD_REQUEST_MESSAGE, M.MAVLINK_MSG_ID_AUTOPILOT_VERSION)
    assert ack is not None and ack.result == 0, "SERIAL0 (USB) refused an unsigned command"
    usb.close()


@pytest.mark.parametrize("params, expected", [
    ({"FENCE_ENABLE": 1, "FENCE_TYPE": 4}, "Arm: Fences enabled, but none selected"),
    ({"FENCE_ENABLE": 1, "FENCE_TYPE": 2, "FENCE_RADIUS": 1.0, "FENCE_MARGIN": 5.0},
     "Arm: Circle FENCE_MARGIN is greater than FENCE_RADIUS"),
    ({"FENCE_ENABLE": 1, "FENCE_TYPE": 1, "FENCE_ALT_MAX": 3.0, "FENCE_ALT_MIN": 0.0},
     "Arm: FENCE_MARGIN too big"),
    ({"BATT_ARM_VOLT": 20.0}, "Arm: Battery 1 below minimum arming voltage"),
])
def test_prearm_texts_are_ardupilots(vehicle_factory, params, expected):
    # set once it is ready (a copter that cannot pass its pre-arm checks is never "ready")
    v = vehicle_factory(speedup=5.0)
    m = connect(v.connection_string)
    m.mav.request_data_stream_send(m.target_system, m.target_component,
                                   M.MAV_DATA_STREAM_EXTENDED_STATUS, 10, 1)
    assert wait(m, "GPS_RAW_INT", 10, lambda g: g.fix_type >= 3) is not None
    for name, value in params.items():
        param_set(m, name, value)
    time.sleep(0.5)  # the fence takes up new settings at its next update
    assert set_mode(m, GUIDED).result == 0
    text, ack = _arm_attempt(m)
    # STATUSTEXT holds 50 characters; ArduPilot cuts longer texts there too
    assert ack.result == M.MAV_RESULT_FAILED and text == expected[:50], (text, ack)
    m.close()


def test_fence_names_follow_ac_fence():
    from simulators.builtin.vehicle import fence_names

    assert fence_names(["Polygon"]) == "Polygon fence"
    assert fence_names(["Polygon", "Max Alt"]) == "Max Alt and Polygon fences"
    assert fence_names(["Min Alt", "Circle", "Max Alt"]) == "Max Alt, Circle and Min Alt fences"


def _guided_airborne(m, alt=20.0):
    wait_ready(m)
    assert set_mode(m, GUIDED).result == 0
    arm(m)
    assert command(m, M.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, alt).result == 0
    m.mav.request_data_stream_send(m.target_system, m.target_component,
                                   M.MAV_DATA_STREAM_ALL, 10, 1)
    top = wait(m, "GLOBAL_POSITION_INT", 20, lambda g: g.relative_alt > (alt - 1) * 1000)
    assert top is not None, f"never reached {alt} m"


def _near(f, target_ne, alt_mm, tol_m=3.0):
    def ok(g):
        e, n = f.to_metric(g.lon / 1e7, g.lat / 1e7)
        return (abs(n - target_ne[0]) < tol_m and abs(e - target_ne[1]) < tol_m
                and abs(g.relative_alt - alt_mm) < 1500)
    return ok


def test_guided_goto_by_position_target_and_reposition(vehicle_factory):
    v = vehicle_factory(speedup=FAST)
    m = connect(v.connection_string)
    _guided_airborne(m)
    h = v.home
    f = TangentPlane(h[1], h[0])
    # SET_POSITION_TARGET_GLOBAL_INT, position only, relative altitude
    lat, lon = f.latlon_at(120, 0)
    m.mav.set_position_target_global_int_send(
        0, m.target_system, m.target_component, M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
        0b110111111000, int(lat * 1e7), int(lon * 1e7), 30, 0, 0, 0, 0, 0, 0, 0, 0)
    got = wait(m, "GLOBAL_POSITION_INT", 30, _near(f, (120, 0), 30000))
    assert got is not None, "never reached the SET_POSITION_TARGET_GLOBAL_INT target"
    # DO_REPOSITION as COMMAND_INT with an absolute (AMSL) altitude
    lat, lon = f.latlon_at(120, -80)
    m.mav.command_int_send(m.target_system, m.target_component, M.MAV_FRAME_GLOBAL_INT,
                           M.MAV_CMD_DO_REPOSITION, 0, 0, -1, 0, 0, 0,
                           int(lat * 1e7), int(lon * 1e7), h[2] + 15.0)
    ack = wait(m, "COMMAND_ACK", 5, lambda a: a.command == M.MAV_CMD_DO_REPOSITION)
    assert ack is not None and ack.result == M.MAV_RESULT_ACCEPTED
    got = wait(m, "GLOBAL_POSITION_INT", 30, _near(f, (120, -80), 15000))
    assert got is not None, "never reached the DO_REPOSITION target"
    # a position target while landed is ignored: a goto needs a flying copter in GUIDED
    assert set_mode(m, LAND).result == 0
    _fly(m, 30)
    m.close()


def test_wind_changes_airspeed_and_drain_not_track(vehicle_factory, vehicle_backend):
    """Flying north into a 8 m/s north wind: airspeed = groundspeed + 8, more current."""
    if vehicle_backend != "builtin":
        pytest.skip("compares battery drain of two built-in copters")
    results = {}
    for wind in (0.0, 8.0):
        v = vehicle_factory(speedup=FAST, params={"SIM_WIND_SPD": wind, "SIM_WIND_DIR": 0.0})
        m = connect(v.connection_string)
        _guided_airborne(m, 20)
        h = v.home
        f = TangentPlane(h[1], h[0])
        lat, lon = f.latlon_at(400, 0)
        m.mav.set_position_target_global_int_send(
            0, m.target_system, m.target_component, M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
            0b110111111000, int(lat * 1e7), int(lon * 1e7), 20, 0, 0, 0, 0, 0, 0, 0, 0)
        hud = wait(m, "VFR_HUD", 20, lambda x: x.groundspeed > 9.5)
        assert hud is not None, "never reached cruise speed"
        batt = wait(m, "BATTERY_STATUS", 5)
        pos = wait(m, "GLOBAL_POSITION_INT", 5)
        e, n = f.to_metric(pos.lon / 1e7, pos.lat / 1e7)
        results[wind] = (hud.airspeed, hud.groundspeed, batt.current_battery / 100.0, e)
        m.close()
        v.stop()
    calm, windy = results[0.0], results[8.0]
    assert abs(calm[0] - calm[1]) < 0.5, calm
    assert abs(windy[0] - (windy[1] + 8.0)) < 1.0, windy   # headwind adds to the airspeed
    assert windy[2] > calm[2] + 1.0, (calm, windy)          # and to the current drawn
    assert abs(windy[3]) < 2.0 and abs(calm[3]) < 2.0       # the track stays on the line


def test_mavlink_ftp_is_refused_so_gcs_falls_back_to_param_list(vehicle_factory, vehicle_backend):
    if vehicle_backend != "builtin":
        pytest.skip("ArduPilot serves @PARAM/param.pck over FTP; the built-in copter refuses")
    v = vehicle_factory(speedup=5.0)
    m = connect(v.connection_string)
    req = bytearray(251)
    req[0:2] = (41).to_bytes(2, "little")
    req[3], req[4] = 4, 16  # OpenFileRO, path length
    req[12:28] = b"@PARAM/param.pck"
    m.mav.file_transfer_protocol_send(0, m.target_system, m.target_component, list(req))
    got = wait(m, "FILE_TRANSFER_PROTOCOL", 5)
    assert got is not None, "no answer to a MAVLink FTP request"
    p = bytes(got.payload)
    assert int.from_bytes(p[0:2], "little") == 42   # seq + 1
    assert (p[3], p[4], p[5], p[12]) == (129, 1, 4, 10)  # NAK, size 1, OpenFileRO, FileNotFound
    m.close()


def test_auto_without_takeoff_on_the_ground_is_refused_like_copter(vehicle_factory):
    v = vehicle_factory(speedup=2.0)
    m = connect(v.connection_string)
    wait_ready(m)
    h = v.home
    f = TangentPlane(h[1], h[0])
    assert upload(m, [home_item(h), wp(*f.latlon_at(50, 0), 20)]).type == 0
    assert set_mode(m, GUIDED).result == 0
    arm(m)
    wait(m, "STATUSTEXT", 2, lambda t: t.text == "Arming motors")
    m.mav.command_long_send(m.target_system, m.target_component, M.MAV_CMD_DO_SET_MODE, 0,
                            M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, AUTO, 0, 0, 0, 0, 0)
    texts, ack, deadline = [], None, time.monotonic() + 5
    while time.monotonic() < deadline:
        msg = wait(m, ["STATUSTEXT", "COMMAND_ACK"], 0.5)
        if msg is None:
            if ack is not None:
                break
            continue
        if msg.get_type() == "STATUSTEXT":
            texts.append(msg.text)
        elif msg.command == M.MAV_CMD_DO_SET_MODE:
            ack = msg
            deadline = min(deadline, time.monotonic() + 0.5)
    assert ack is not None, "no answer to the mode change"
    assert ack.result == M.MAV_RESULT_FAILED
    # ModeAuto::init's warning, then Copter::mode_change_failed's
    assert texts[-2:] == ["Auto: Missing Takeoff Cmd", "Mode change to AUTO failed: init failed"]
    m.close()
