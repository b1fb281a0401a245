"""The vehicle answers the mission protocol as ArduPilot does (see ARDUPILOT_NOTES.md).

Runs on the built-in copter by default and unchanged on real SITL (``--backend ardupilot``).
"""

from __future__ import annotations

import time

import pytest
from mavtest_helpers import connect, download, home_item, item, upload, wait, wait_ready, wp
from pymavlink.dialects.v20 import ardupilotmega as M

pytestmark = pytest.mark.sitl


def test_upload_requests_plain_mission_request_from_seq_0_and_reads_back_rounded(vehicle):
    m = connect(vehicle.connection_string)
    wait_ready(m)  # home is set once the EKF has a position
    h = vehicle.home
    items = [home_item(h),
             item(M.MAV_CMD_NAV_TAKEOFF, alt=12.345, frame=M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT),
             wp(h[0] + 0.001, h[1], 30.006, hold=2.7) [:3] + (9.0, 2.0, 7.0) + wp(
                 h[0] + 0.001, h[1], 30.006)[6:],
             item(M.MAV_CMD_DO_SET_CAM_TRIGG_DIST, 25.0, 0, 1),
             wp(h[0] + 0.001, h[1] + 0.001, 40.0, frame=M.MAV_FRAME_GLOBAL_INT),
             item(M.MAV_CMD_DO_CHANGE_SPEED, 1, 7.5, -1)]
    m.mav.mission_count_send(m.target_system, m.target_component, len(items), 0)
    first = wait(m, ["MISSION_REQUEST", "MISSION_REQUEST_INT"], 5)
    assert first is not None and first.get_type() == "MISSION_REQUEST" and first.seq == 0
    m.mav.mission_clear_all_send(m.target_system, m.target_component, 0)  # restart cleanly
    wait(m, "MISSION_ACK", 3)
    ack = upload(m, items)
    assert ack.type == M.MAV_MISSION_ACCEPTED
    got = download(m)
    assert len(got) == len(items)
    home = got[0]
    assert home.command == M.MAV_CMD_NAV_WAYPOINT and home.frame == M.MAV_FRAME_GLOBAL
    assert abs(home.x / 1e7 - h[0]) < 1e-5 and abs(home.z - h[2]) < 1.0  # absolute altitude
    takeoff = got[1]
    assert takeoff.frame == M.MAV_FRAME_GLOBAL_RELATIVE_ALT  # 6 -> 3
    assert takeoff.z == pytest.approx(12.34, abs=1e-4)       # whole centimetres
    way = got[2]
    assert way.param1 == 2.0                                  # hold cut to whole seconds
    assert way.param2 == 0.0 and way.param4 == 0.0            # not stored
    assert way.z == pytest.approx(30.0, abs=1e-4)
    cam = got[3]
    assert (cam.param1, cam.param3, cam.frame) == (25.0, 1.0, 0)
    assert got[4].frame == M.MAV_FRAME_GLOBAL                 # 5 -> 0
    speed = got[5]  # AP_Mission keeps throttle_pct as a float: -1 (no change) comes back
    assert (speed.param1, speed.param2, speed.param3) == (1.0, 7.5, -1.0)
    m.close()


def test_wrong_sequence_is_a_nonfatal_ack_and_request_repeats_after_about_1s(vehicle):
    m = connect(vehicle.connection_string)
    h = vehicle.home
    m.mav.mission_count_send(m.target_system, m.target_component, 3, 0)
    req = wait(m, "MISSION_REQUEST", 5)
    assert req.seq == 0
    t0 = time.monotonic()
    # answer with the wrong seq
    m.mav.mission_item_int_send(m.target_system, m.target_component, 2, 6, 16, 0, 1, 0, 0, 0,
                                0, int(h[0] * 1e7), int(h[1] * 1e7), 10, 0)
    ack = wait(m, "MISSION_ACK", 3)
    assert ack.type == M.MAV_MISSION_INVALID_SEQUENCE
    again = wait(m, "MISSION_REQUEST", 5)
    gap = (time.monotonic() - t0) * vehicle.speedup
    assert again.seq == 0
    assert 0.7 <= gap <= 2.5, f"re-request after {gap:.2f} s (ArduPilot: ~1 s)"
    # the transfer goes on
    for seq in range(3):
        if seq:
            req = wait(m, "MISSION_REQUEST", 5)
            assert req.seq == seq
        m.mav.mission_item_int_send(m.target_system, m.target_component, seq, 6, 16, 0, 1, 0, 0,
                                    0, 0, int(h[0] * 1e7), int(h[1] * 1e7), 10, 0)
    ack = wait(m, "MISSION_ACK", 5)
    assert ack.type == M.MAV_MISSION_ACCEPTED
    # a duplicate of the last item after the transfer: harmless ERROR ack
    m.mav.mission_item_int_send(m.target_system, m.target_component, 2, 6, 16, 0, 1, 0, 0, 0, 0,
                                int(h[0] * 1e7), int(h[1] * 1e7), 10, 0)
    ack = wait(m, "MISSION_ACK", 3)
    assert ack.type == M.MAV_MISSION_ERROR
    m.close()


@pytest.mark.slow
def test_silence_cancels_after_8s_and_old_mission_is_already_cut(vehicle_factory):
    v = vehicle_factory(speedup=8.0)
    m = connect(v.connection_string)
    h = v.home
    old = [home_item(h)] + [wp(h[0] + 0.0001 * i, h[1], 20 + i) for i in range(1, 6)]
    assert upload(m, old).type == M.MAV_MISSION_ACCEPTED
    m.mav.mission_count_send(m.target_system, m.target_component, 3, 0)
    t0 = time.monotonic()
    requests = 0
    while True:
        msg = wait(m, ["MISSION_REQUEST", "MISSION_ACK"], 5)
        assert msg is not None, "vehicle never gave up on the silent upload"
        if msg.get_type() == "MISSION_ACK":
            break
        requests += 1
    elapsed = (time.monotonic() - t0) * v.speedup
    assert msg.type == M.MAV_MISSION_OPERATION_CANCELLED
    assert 6.5 <= elapsed <= 11.0, f"cancelled after {elapsed:.1f} s of vehicle time"
    assert requests >= 5  # the first request plus ~1 per second
    assert len(download(m)) == 3  # cut to the new count when MISSION_COUNT arrived
    m.close()


def test_count_over_capacity_is_no_space_with_text_and_keeps_old_mission(vehicle):
    m = connect(vehicle.connection_string)
    h = vehicle.home
    old = [home_item(h), wp(h[0] + 0.001, h[1], 20)]
    assert upload(m, old).type == M.MAV_MISSION_ACCEPTED
    m.mav.mission_count_send(m.target_system, m.target_component, 651, 0)
    ack = wait(m, "MISSION_ACK", 5)
    assert ack.type == M.MAV_MISSION_NO_SPACE
    text = wait(m, "STATUSTEXT", 3, lambda s: "items are supported" in s.text)
    assert text is not None and "650" in text.text
    assert wait(m, "MISSION_REQUEST", 1.0) is None  # nothing requested
    assert len(download(m)) == 2
    m.mav.mission_count_send(m.target_system, m.target_component, 650, 0)
    req = wait(m, "MISSION_REQUEST", 5)
    assert req is not None and req.seq == 0  # 650 fits
    m.close()


def test_fence_and_rally_use_the_same_protocol(vehicle):
    m = connect(vehicle.connection_string)
    h = vehicle.home
    d = 0.002
    fence = [item(M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION, 4, lat=h[0] + a, lon=h[1] + b,
                  frame=M.MAV_FRAME_GLOBAL_INT)
             for a, b in ((-d, -d), (-d, d), (d, d), (d, -d))]
    fence.append(item(M.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION, 30.5, lat=h[0] + d / 2, lon=h[1],
                      frame=M.MAV_FRAME_GLOBAL_INT))
    assert upload(m, fence, mission_type=1).type == M.MAV_MISSION_ACCEPTED
    back = download(m, 1)
    assert [b.command for b in back] == [f[1] for f in fence]
    assert all(abs(b.x - round(f[6] * 1e7)) <= 1 for b, f in zip(back, fence, strict=True))
    assert back[0].param1 == 4 and back[4].param1 == pytest.approx(30.5)
    rally = [item(M.MAV_CMD_NAV_RALLY_POINT, lat=h[0] + d, lon=h[1], alt=35.7,
                  frame=M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT)]
    assert upload(m, rally, mission_type=2).type == M.MAV_MISSION_ACCEPTED
    r = download(m, 2)
    assert len(r) == 1 and r[0].command == M.MAV_CMD_NAV_RALLY_POINT
    assert abs(r[0].z - 35.7) < 1.0
    m.close()


def test_params_by_4_7_names_and_unknown_names_get_no_reply(vehicle):
    m = connect(vehicle.connection_string)
    for name in ("MAV_SYSID", "CAM1_TYPE", "WPNAV_SPEED", "FENCE_ENABLE", "RTL_ALT"):
        m.mav.param_request_read_send(m.target_system, m.target_component, name.encode(), -1)
        got = wait(m, "PARAM_VALUE", 5, lambda p, n=name: p.param_id == n)
        assert got is not None, f"no answer for {name}"
    m.mav.param_request_read_send(m.target_system, m.target_component, b"SYSID_THISMAV", -1)
    assert wait(m, "PARAM_VALUE", 1.5, lambda p: p.param_id == "SYSID_THISMAV") is None
    m.close()


def test_request_message_autopilot_version_acks_then_sends(vehicle):
    m = connect(vehicle.connection_string)
    m.mav.command_long_send(m.target_system, m.target_component, M.MAV_CMD_REQUEST_MESSAGE, 0,
                            M.MAVLINK_MSG_ID_AUTOPILOT_VERSION, 0, 0, 0, 0, 0, 0)
    order = []
    deadline = time.monotonic() + 5
    while len(order) < 2 and time.monotonic() < deadline:
        msg = wait(m, ["COMMAND_ACK", "AUTOPILOT_VERSION"], 1)
        if msg is not None:
            order.append(msg.get_type())
    assert order == ["COMMAND_ACK", "AUTOPILOT_VERSION"]
    m.close()


def test_streams_are_off_until_requested_but_heartbeats_flow(vehicle):
    m = connect(vehicle.connection_string)
    assert wait(m, "GLOBAL_POSITION_INT", 1.5) is None
    assert wait(m, "HEARTBEAT", 3) is not None
    m.mav.command_long_send(m.target_system, m.target_component,
                            M.MAV_CMD_SET_MESSAGE_INTERVAL, 0,
                            M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT, 100000, 0, 0, 0, 0, 0)
    assert wait(m, "GLOBAL_POSITION_INT", 3) is not None
    m.close()
