"""The vehicle's battery drains as the energy model predicts, on the built-in copter and on SITL.

The same scripted flight (hover, level flight at 5 and 10 m/s, a 50 m climb, a minute's loiter,
RTL) is flown as a mission on the selected backend (``pytest --backend ardupilot`` flies it on
ArduPilot's own SITL), and the charge the vehicle reports used (BATTERY_STATUS.current_consumed)
is compared with the planner's estimate from the ``arducopter-quad`` energy model.
"""

from __future__ import annotations

import time

import pytest

from missions.estimate import estimate_mission
from uav.geo import TangentPlane
from uav.items import Cmd, Frame, Home, Mission, MissionItem
from uav.link import connect, control
from uav.link.upload import upload_verified
from uav.profiles import AIRCRAFT

HOME = (43.1, 131.4, 100.0, 0.0)
QUAD = AIRCRAFT["arducopter-quad"]


def energy_flight() -> Mission:
    f = TangentPlane(HOME[1], HOME[0])

    def wp(north, alt, hold=0.0, cmd=Cmd.NAV_WAYPOINT):
        lat, lon = f.latlon_at(north, 0.0)
        return MissionItem(cmd, Frame.GLOBAL_RELATIVE_ALT_INT, param1=hold, lat=lat, lon=lon, alt=alt)

    return Mission(items=[
        Home(HOME[0], HOME[1], HOME[2]).as_item(),
        MissionItem(Cmd.NAV_TAKEOFF, Frame.GLOBAL_RELATIVE_ALT_INT, lat=HOME[0], lon=HOME[1], alt=30),
        wp(0, 30, hold=30),                                                   # hover
        MissionItem(Cmd.DO_CHANGE_SPEED, Frame.MISSION, param1=1, param2=5, param3=-1),
        wp(400, 30),                                                          # 5 m/s
        MissionItem(Cmd.DO_CHANGE_SPEED, Frame.MISSION, param1=1, param2=10, param3=-1),
        wp(1400, 30),                                                         # 10 m/s
        wp(1400, 80),                                                         # climb 50 m
        wp(1400, 80, hold=60, cmd=Cmd.NAV_LOITER_TIME),                       # a minute's loiter
        MissionItem(Cmd.NAV_RETURN_TO_LAUNCH, Frame.MISSION),
    ], name="energy flight")


def fly_and_read_charge(vehicle, mission: Mission, timeout_s: float = 1200.0) -> tuple[float, float]:
    """Fly ``mission``; (charge used in mAh, flight time in s) as the vehicle reports them."""
    with connect(vehicle.connection_string, timeout=30, stream_rate_hz=4.0) as link:
        upload_verified(link, mission, fence=False, rally=False)
        control.set_mode(link, "GUIDED")
        control.arm(link)
        control.start_mission(link)
        used = None
        t0 = t = None
        armed = True
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg = link.poll(None, 0.5)
            if msg is None:
                continue
            kind = msg.get_type()
            if kind == "BATTERY_STATUS" and msg.current_consumed >= 0:
                used = float(msg.current_consumed)
            elif kind == "GLOBAL_POSITION_INT":
                t = msg.time_boot_ms / 1000.0
                t0 = t if t0 is None else t0
            elif kind == "HEARTBEAT" and link._from_vehicle(msg):
                if armed and not control.is_armed(msg):
                    break
                armed = control.is_armed(msg)
        else:
            pytest.fail("the energy flight did not land in time")
        # the last BATTERY_STATUS after disarming holds the final count
        end = time.monotonic() + 3
        while time.monotonic() < end:
            msg = link.poll("BATTERY_STATUS", 0.5)
            if msg is not None and msg.current_consumed >= 0:
                used = float(msg.current_consumed)
                break
    assert used is not None, "the vehicle never reported BATTERY_STATUS"
    return used, (t - t0) if t is not None else 0.0


@pytest.mark.slow
def test_charge_used_matches_the_energy_model(vehicle_factory, vehicle_backend):
    mission = energy_flight()
    predicted = estimate_mission(mission, QUAD)
    v = vehicle_factory(home=HOME, speedup=20 if vehicle_backend == "ardupilot" else 50,
                        params={"BATT_CAPACITY": int(QUAD.battery_capacity_mah),
                                "SIM_BATT_CAP_AH": QUAD.battery_capacity_mah / 1000.0})
    used, flown = fly_and_read_charge(v, mission)
    ratio = used / predicted.charge_mah
    detail = (f"{vehicle_backend}: used {used:.0f} mAh in {flown:.0f} s; model predicted "
              f"{predicted.charge_mah:.0f} mAh in {predicted.time_s:.0f} s")
    print(detail)
    assert 0.9 <= ratio <= 1.1, detail
    assert 0.75 <= flown / predicted.time_s <= 1.25, detail
