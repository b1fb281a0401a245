"""Connection strings, heartbeat wait, vehicle identification."""

import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _peer import Peer  # noqa: E402

from uav.errors import InvalidInputError, LinkError, LinkTimeoutError  # noqa: E402
from uav.link import connect, parse_connection_string  # noqa: E402
from uav.link.connection import firmware_version  # noqa: E402


@pytest.mark.parametrize("url, scheme, address, baud", [
    ("udp:127.0.0.1:14550", "udpin", "127.0.0.1:14550", 57600),
    ("udp::14550", "udpin", "0.0.0.0:14550", 57600),
    ("udpin:0.0.0.0:14550", "udpin", "0.0.0.0:14550", 57600),
    ("udpout:10.0.0.2:14550", "udpout", "10.0.0.2:14550", 57600),
    ("tcp:127.0.0.1:5760", "tcp", "127.0.0.1:5760", 57600),
    ("/dev/ttyUSB0:57600", "serial", "/dev/ttyUSB0", 57600),
    ("/dev/ttyACM0,115200", "serial", "/dev/ttyACM0", 115200),
    ("/dev/serial/by-id/usb-Hex_ProfiCNC_CubeOrange-if00", "serial",
     "/dev/serial/by-id/usb-Hex_ProfiCNC_CubeOrange-if00", 57600),
    ("COM3:921600", "serial", "COM3", 921600),
])
def test_connection_strings(url, scheme, address, baud):
    ep = parse_connection_string(url)
    assert (ep.scheme, ep.address, ep.baud) == (scheme, address, baud)


@pytest.mark.parametrize("url", ["", "http://drone", "tcp:127.0.0.1", "127.0.0.1:5760"])
def test_bad_connection_strings_are_explained(url):
    with pytest.raises(InvalidInputError, match="udp:HOST:PORT"):
        parse_connection_string(url)


def test_bad_port_is_named():
    with pytest.raises(InvalidInputError, match="port 99999 is not between 1 and 65535"):
        parse_connection_string("udp:host:99999")


def test_firmware_version_decoding():
    assert firmware_version((4 << 24) | (7 << 16) | (0 << 8) | 0) == "4.7.0-dev"
    assert firmware_version((4 << 24) | (5 << 16) | (7 << 8) | 255) == "4.5.7"


def test_connect_identifies_vehicle():
    with Peer() as peer, connect(peer.connection_string, timeout=5) as link:
        v = link.vehicle
        assert (v.system_id, v.component_id) == (1, 1)
        assert v.is_ardupilot and v.is_copter and v.firmware == "4.7.0-dev"
        assert "ardupilotmega quadrotor" in v.describe()
        # we asked for telemetry: ArduPilot sends none until asked
        assert "REQUEST_DATA_STREAM" in peer.received or "COMMAND_LONG" in peer.received
        assert link.mav.srcSystem == 255 and link.mav.srcComponent == 190


def test_silent_peer_times_out_saying_what_was_waited_for():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    try:
        with pytest.raises(LinkTimeoutError, match=r"waited 0.5 s for a heartbeat"):
            connect(f"tcp:127.0.0.1:{port}", timeout=0.5)
    finally:
        srv.close()


def test_nobody_listening_is_a_link_error():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    srv.close()
    with pytest.raises(LinkError, match=f"cannot open tcp:127.0.0.1:{port}"):
        connect(f"tcp:127.0.0.1:{port}", timeout=0.5)


def test_closed_link_says_so():
    with Peer() as peer:
        link = connect(peer.connection_string, timeout=5)
        link.close()
        with pytest.raises(LinkError, match="closed"):
            link.wait_heartbeat(0.1)


def test_udpout_and_udpin_to_the_simulator(vehicle_factory, vehicle_backend):
    if vehicle_backend != "builtin":
        pytest.skip("UDP ports are a built-in vehicle option here")
    import socket as _socket

    from uav.items import MissionType
    from uav.link.mission_transfer import MissionTransfer

    sim = vehicle_factory(home=(43.1, 131.5, 120.0, 0.0), speedup=10, udp_port=0)
    # udpout: we speak first (our heartbeat), the vehicle answers to where we are
    with connect(f"udpout:127.0.0.1:{sim.server.udp_port}", timeout=5) as link:
        assert link.vehicle.firmware == "4.7.0-dev"
        assert MissionTransfer(link).count(MissionType.MISSION) in (0, 1)  # home, once set
    # udpin: we listen, the vehicle sends to us (as QGroundControl's 14550)
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    vehicle_factory(home=(43.1, 131.5, 120.0, 0.0), speedup=10, udp_out=[f"127.0.0.1:{port}"])
    with connect(f"udp:127.0.0.1:{port}", timeout=5) as link:
        assert link.vehicle.is_copter and link.answered


def test_missing_serial_device_says_to_plug_it_in():
    url = "/dev/ttyUSB-amur-not-there:57600"
    with pytest.raises(LinkError) as info:
        connect(url, timeout=0.5)
    msg = str(info.value)
    assert f"cannot open {url}" in msg
    assert "no serial device /dev/ttyUSB-amur-not-there" in msg
    assert "plugged in" in msg
