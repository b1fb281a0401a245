"""Parameters (read all / one, set with confirmation) and flight control."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _peer import Peer  # noqa: E402

from uav.errors import InvalidInputError, LinkTimeoutError, ParameterError  # noqa: E402
from uav.link import connect, control, params  # noqa: E402


def test_params_read_set_and_unknown_names():
    with Peer() as peer, connect(peer.connection_string, timeout=5) as link:
        seen = []
        values = params.read_all(link, progress=lambda d, t: seen.append((d, t)))
        assert values["FENCE_ENABLE"] == 0 and values["WPNAV_SPEED"] == 500
        assert seen[-1] == (len(values), len(values))
        assert params.read(link, "BATT_CAPACITY") == 5200
        assert params.set_param(link, "FENCE_ENABLE", 1) == 1
        assert peer.params["FENCE_ENABLE"] == 1
        assert params.set_many(link, {"FENCE_ACTION": 2, "WPNAV_SPEED": 750}) == {
            "FENCE_ACTION": 2, "WPNAV_SPEED": 750}
        with pytest.raises(ParameterError, match=r"did not answer for parameter SYSID_THISMAV"
                                                 r".*waited 0.2 s x 2.*SYSID_THISMAV became"):
            params.read(link, "SYSID_THISMAV", timeout=0.2, retries=1)
        with pytest.raises(ParameterError, match="setting CAM_TRIGG_TYPE was not confirmed"):
            params.set_param(link, "CAM_TRIGG_TYPE", 1, timeout=0.2, retries=1)
        with pytest.raises(ParameterError, match="not valid"):
            params.read(link, "A_NAME_FAR_TOO_LONG_FOR_MAVLINK")


def test_mode_names():
    assert control.mode_number("auto") == 3 and control.mode_name(6) == "RTL"
    with pytest.raises(InvalidInputError, match="unknown flight mode 'CRUISE'.*GUIDED"):
        control.mode_number("CRUISE")


HOME = (43.1, 131.5, 120.0, 0.0)


def test_arm_refusal_carries_the_vehicles_prearm_text(vehicle_factory):
    from uav.errors import ArmingError

    # a battery-capacity check the copter cannot pass (ArduPilot's BATT_ARM_MAH)
    # set once it is ready: a copter that cannot pass its pre-arm checks is never "ready"
    sim = vehicle_factory(home=HOME, speedup=10)
    with connect(sim.connection_string, timeout=5) as link:
        control.wait_home(link, 30)
        params.set_param(link, "BATT_ARM_MAH", 1e9)
        # AP_Arming words what it finds while arming "Arm: ..."
        with pytest.raises(ArmingError, match="refused COMPONENT_ARM_DISARM.*Arm: Battery 1 "
                                              "below minimum arming capacity"):
            control.arm(link)


def test_flight_control_sequence(vehicle_factory):
    from test_mission_transfer import survey

    from uav.link.telemetry import Recorder
    from uav.link.upload import upload_verified

    sim = vehicle_factory(home=HOME, speedup=20)
    with connect(sim.connection_string, timeout=5) as link, Recorder(link) as rec:
        upload_verified(link, survey(8), fence=False, rally=False)
        control.takeoff(link, 12)
        assert control.relative_altitude(link) == pytest.approx(12, abs=1.0)
        control.start_mission(link)
        control.wait_item_reached(link, 2, timeout=60)
        control.pause(link)
        control.resume(link)
        control.wait_mode(link, "AUTO")
        control.land(link)
        control.wait_landed(link, timeout=120)
        assert not control.is_armed(link.wait_heartbeat())
        assert rec.progress.reached[:1] == [1] or 2 in rec.progress.reached
        assert len(rec.track) > 5
        with pytest.raises(LinkTimeoutError, match="waited 0.2 s for the vehicle to reach "
                                                   "mission item 99"):
            control.wait_item_reached(link, 99, timeout=0.2)


def test_params_on_the_simulator(vehicle_factory):
    sim = vehicle_factory(home=HOME, speedup=10)
    with connect(sim.connection_string, timeout=5) as link:
        values = params.read_all(link)
        assert len(values) > 30 and "MAV_SYSID" in values and "SYSID_THISMAV" not in values
        assert params.set_many(link, {"FENCE_ENABLE": 1, "FENCE_ACTION": 1,
                                      "WPNAV_SPEED": 800}) == {
            "FENCE_ENABLE": 1, "FENCE_ACTION": 1, "WPNAV_SPEED": 800}
        assert params.read(link, "WPNAV_SPEED") == 800
        with pytest.raises(ParameterError, match="no parameter named CAM_TRIGG_TYPE"):
            params.set_param(link, "CAM_TRIGG_TYPE", 1, timeout=0.2, retries=1)
