"""Record a mission upload, arming and a short AUTO flight, and check every answer follows
ArduPilot's (ARDUPILOT_NOTES.md).  Runs unchanged on real SITL with ``--backend ardupilot``."""

from __future__ import annotations

import time

import pytest
from mavtest_helpers import (
    command,
    connect,
    download,
    home_item,
    item,
    set_mode,
    wait_ready,
    wp,
)
from pymavlink.dialects.v20 import ardupilotmega as M

from uav.geo import TangentPlane

pytestmark = [pytest.mark.sitl, pytest.mark.slow]


class Recorder:
    """Every message the vehicle sent, in order, while the test drove it."""

    def __init__(self, m):
        self.m = m
        self.log: list = []

    def next(self, types, timeout=10.0, cond=None):
        deadline = time.monotonic() + timeout
        types = [types] if isinstance(types, str) else types
        while time.monotonic() < deadline:
            msg = self.m.recv_match(blocking=True, timeout=0.2)
            if msg is None or msg.get_type() == "BAD_DATA":
                continue
            self.log.append(msg)
            if msg.get_type() in types and (cond is None or cond(msg)):
                return msg
        return None

    def of(self, t):
        return [x for x in self.log if x.get_type() == t]

    def types(self) -> list[str]:
        return [x.get_type() for x in self.log]


def test_upload_arm_and_auto_flight_answer_like_arducopter(vehicle_factory):
    v = vehicle_factory(speedup=10.0)
    m = connect(v.connection_string, timeout=30)
    rec = Recorder(m)
    hb = rec.next("HEARTBEAT")
    assert (hb.autopilot, hb.type) == (M.MAV_AUTOPILOT_ARDUPILOTMEGA, M.MAV_TYPE_QUADROTOR)
    assert hb.base_mode & M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
    # a fresh link: heartbeats, but no telemetry stream until one is asked for
    rec.next("HEARTBEAT")
    assert not {"GLOBAL_POSITION_INT", "ATTITUDE", "VFR_HUD"} & set(rec.types()), rec.types()
    # REQUEST_MESSAGE(AUTOPILOT_VERSION): COMMAND_ACK first, then the message
    m.mav.command_long_send(m.target_system, m.target_component, M.MAV_CMD_REQUEST_MESSAGE, 0,
                            M.MAVLINK_MSG_ID_AUTOPILOT_VERSION, 0, 0, 0, 0, 0, 0)
    ver = rec.next("AUTOPILOT_VERSION")
    assert ver is not None and ver.capabilities & M.MAV_PROTOCOL_CAPABILITY_MISSION_INT
    acks = [i for i, x in enumerate(rec.log) if x.get_type() == "COMMAND_ACK"
            and x.command == M.MAV_CMD_REQUEST_MESSAGE]
    assert acks and acks[0] < rec.log.index(ver), rec.types()
    wait_ready(m, timeout=120)
    h = v.home
    f = TangentPlane(h[1], h[0])
    items = [home_item(h), item(M.MAV_CMD_NAV_TAKEOFF, alt=10, frame=3),
             wp(*f.latlon_at(40, 0), 10), item(M.MAV_CMD_NAV_LAND, frame=3)]

    # upload: plain MISSION_REQUEST, seq 0 first, in order, then ACCEPTED
    m.mav.mission_count_send(m.target_system, m.target_component, len(items), 0)
    seqs = []
    while True:
        msg = rec.next(["MISSION_REQUEST", "MISSION_REQUEST_INT", "MISSION_ACK"])
        assert msg is not None, "vehicle stopped answering during upload"
        if msg.get_type() == "MISSION_ACK":
            break
        assert msg.get_type() == "MISSION_REQUEST"
        seqs.append(msg.seq)
        fr, cmd, p1, p2, p3, p4, lat, lon, alt = items[msg.seq]
        m.mav.mission_item_int_send(m.target_system, m.target_component, msg.seq, fr, cmd, 0, 1,
                                    p1, p2, p3, p4, int(lat * 1e7), int(lon * 1e7), alt, 0)
    assert seqs == list(range(len(items)))
    assert msg.type == M.MAV_MISSION_ACCEPTED and msg.mission_type == 0

    # read back: seq 0 is home (frame 0, absolute altitude); _INT frames come back non-INT
    back = download(m)
    assert len(back) == len(items)
    assert (back[0].command, back[0].frame) == (M.MAV_CMD_NAV_WAYPOINT, M.MAV_FRAME_GLOBAL)
    assert abs(back[0].z - h[2]) < 1.0
    assert back[2].frame == M.MAV_FRAME_GLOBAL_RELATIVE_ALT, back[2].frame  # sent as 6
    assert [b.command for b in back] == [it[1] for it in items]

    # arm in GUIDED, take off, AUTO
    assert set_mode(m, 4).result == M.MAV_RESULT_ACCEPTED
    for _ in range(30):
        ack = command(m, M.MAV_CMD_COMPONENT_ARM_DISARM, 1)
        if ack is not None and ack.result == M.MAV_RESULT_ACCEPTED:
            break
        time.sleep(1)
    else:
        pytest.fail("vehicle would not arm in GUIDED")
    hb = rec.next("HEARTBEAT", cond=lambda x: x.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED)
    assert hb is not None and hb.custom_mode == 4
    assert command(m, M.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 10).result == 0
    assert set_mode(m, 3).result == M.MAV_RESULT_ACCEPTED

    # the mission runs: items reached in order, it lands and disarms itself
    end = rec.next("HEARTBEAT", timeout=180,
                   cond=lambda x: not x.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED)
    assert end is not None, "mission did not end with a disarm"
    reached = [r.seq for r in rec.of("MISSION_ITEM_REACHED")]
    # the final LAND is never "reached": ArduCopter disarms on touchdown first
    assert reached == sorted(reached) and reached[-1] == 2 and 3 not in reached, reached
    currents = [c.seq for c in rec.of("MISSION_CURRENT")]
    assert currents == sorted(currents) or not currents
    m.close()
