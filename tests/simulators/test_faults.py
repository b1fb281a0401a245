"""The fault-injecting proxy: whole frames, seeded, per direction, counted."""

from __future__ import annotations

import socket

import pytest
from mavtest_helpers import command, connect, download, home_item, upload, wait_ready, wp
from pymavlink.dialects.v20 import ardupilotmega as M

from simulators.faults import FaultyLink, split_frames
from uav.errors import SimulatorError


def _frame(mav, msg) -> bytes:
    return msg.pack(mav)


def test_split_frames_cuts_v2_signed_and_junk():
    mav = M.MAVLink(None, 1, 1)
    a = _frame(mav, M.MAVLink_heartbeat_message(2, 3, 0, 0, 0, 3))
    mav.signing.secret_key = bytes(32)
    mav.signing.sign_outgoing = True
    b = _frame(mav, M.MAVLink_heartbeat_message(2, 3, 0, 0, 0, 3))
    assert len(b) == len(a) + 13
    buf = bytearray(b"\x01\x02" + a + b + a[:5])
    frames = split_frames(buf)
    assert frames == [b"\x01\x02", a, b]
    assert bytes(buf) == a[:5]  # the incomplete frame waits for the rest


def test_bad_settings_are_refused_with_the_reason():
    with pytest.raises(SimulatorError, match="drop must be a probability"):
        FaultyLink("tcp:127.0.0.1:5760", drop=1.5)
    with pytest.raises(SimulatorError, match="tcp:HOST:PORT or udp:HOST:PORT"):
        FaultyLink("serial:/dev/ttyUSB0:57600")
    with pytest.raises(SimulatorError, match="unknown fault setting"):
        FaultyLink("tcp:127.0.0.1:5760", to_gcs={"loss": 0.1})


def test_dropping_every_command_gets_no_answer_and_is_counted(vehicle):
    with FaultyLink(vehicle.connection_string, to_vehicle={"drop": 1.0}) as link:
        m = connect(link.connection_string)  # heartbeats still come back
        assert command(m, M.MAV_CMD_REQUEST_MESSAGE, M.MAVLINK_MSG_ID_AUTOPILOT_VERSION,
                       timeout=1.0) is None
        m.close()
        assert link.counters["to_vehicle"]["dropped"] >= 1
        assert link.counters["to_vehicle"]["dropped"] == link.counters["to_vehicle"]["frames"]
        assert link.counters["to_gcs"]["dropped"] == 0
    # stopped: the proxy's port no longer answers
    with socket.socket() as s, pytest.raises(OSError):
        s.settimeout(1.0)
        s.connect(("127.0.0.1", link.port))


def test_a_lone_reordered_frame_still_arrives(vehicle):
    """Reordering holds a frame for the next one; with no next one it goes out late."""
    with FaultyLink(vehicle.connection_string, to_vehicle={"reorder": 1.0}) as link:
        m = connect(link.connection_string)  # this GCS sends nothing else to swap with
        ack = command(m, M.MAV_CMD_REQUEST_MESSAGE, M.MAVLINK_MSG_ID_AUTOPILOT_VERSION,
                      timeout=2.0)
        assert ack is not None and ack.result == M.MAV_RESULT_ACCEPTED
        assert link.counters["to_vehicle"]["reordered"] >= 1
        m.close()


def test_udp_proxy_duplicates_frames_and_frees_its_ports(vehicle_factory, vehicle_backend):
    if vehicle_backend != "builtin":
        pytest.skip("needs the built-in copter's UDP port")
    from pymavlink import mavutil

    v = vehicle_factory(udp_port=0)
    with FaultyLink(f"udp:127.0.0.1:{v.server.udp_port}", to_vehicle={"duplicate": 1.0},
                    seed=2) as link:
        assert link.connection_string.startswith("udpout:127.0.0.1:")
        m = mavutil.mavlink_connection(link.connection_string, source_system=245,
                                       source_component=190)
        # a UDP vehicle learns of its GCS from the first datagram
        m.mav.heartbeat_send(M.MAV_TYPE_GCS, M.MAV_AUTOPILOT_INVALID, 0, 0, 0)
        hb = m.recv_match(type="HEARTBEAT", blocking=True, timeout=5)
        assert hb is not None, "no HEARTBEAT back through the UDP proxy"
        m.target_system, m.target_component = hb.get_srcSystem(), hb.get_srcComponent()
        ack = command(m, M.MAV_CMD_REQUEST_MESSAGE, M.MAVLINK_MSG_ID_AUTOPILOT_VERSION)
        assert ack is not None and ack.result == M.MAV_RESULT_ACCEPTED
        m.close()
        c = link.counters["to_vehicle"]
        assert c["frames"] >= 2 and c["duplicated"] == c["frames"]
        assert link.counters["to_gcs"]["frames"] >= 2
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", link.port))  # freed at stop


@pytest.mark.slow
def test_lossy_link_transfer_still_completes_with_retries(vehicle_factory):
    # 4x: the vehicle's 1 s re-request timer (simulated time) fires every 0.25 s of wall time
    vehicle = vehicle_factory(speedup=4.0)
    with FaultyLink(vehicle.connection_string, drop=0.1, duplicate=0.1, reorder=0.05,
                    seed=7) as link:
        m = connect(link.connection_string)
        wait_ready(m)
        h = vehicle.home
        items = [home_item(h)] + [wp(h[0] + 1e-4 * i, h[1], 20) for i in range(1, 8)]
        ack = upload(m, items, timeout=60)
        assert ack.type == M.MAV_MISSION_ACCEPTED, f"upload ended with MISSION_ACK {ack.type}"
        assert len(download(m)) == len(items)
        m.close()
        c = link.counters
        assert c["to_vehicle"]["dropped"] + c["to_gcs"]["dropped"] > 0
        assert c["to_vehicle"]["duplicated"] + c["to_gcs"]["duplicated"] > 0


def test_same_seed_same_faults():
    import random

    from simulators.faults import Faults, _Direction

    def run(seed):
        d = _Direction("x", Faults(drop=0.3, duplicate=0.2), random.Random(seed))
        sent = []

        class Out:
            def sendall(self, data):
                sent.append(data)

        link = FaultyLink.__new__(FaultyLink)
        for i in range(200):
            FaultyLink._forward(link, d, Out(), bytes([0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, i, 0]))
        return sent, dict(d.counters)

    assert run(3) == run(3)
    assert run(3) != run(4)
