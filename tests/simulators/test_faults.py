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
    with pytest.raises(SimulatorError, match="tcp:HOST:PORT"):
        FaultyLink("udp:127.0.0.1:14550")
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


@pytest.mark.slow
def test_lossy_link_transfer_still_completes_with_retries(vehicle):
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
