"""The built-in copter flies the same whatever slices the server cuts its time into.

The server advances the vehicle in 50 ms steps and then whatever is left of the wall-clock
tick, which on a loaded machine can be microseconds.  These drive :class:`Vehicle` directly
(a socket cannot choose step sizes) through a lookout mission with orbits, once in even steps
and once with a microsecond step after every full one, and compare what a rehearsal reports.
"""

from __future__ import annotations

import pytest

from missions.lookout import plan_lookout
from simulators.builtin.params import ParamTable
from simulators.builtin.storage import StoredItem
from simulators.builtin.vehicle import MODES, Vehicle
from simulators.rehearsal import vehicle_params
from uav.profiles import get_aircraft

HOME = (43.1341, 131.2674, 142.0, 0.0)


def _fly(slices: list[float], limit_s: float = 1800.0) -> dict:
    points = [(HOME[1] + 0.0015, HOME[0] + 0.0008, "lick 1"),
              (HOME[1] - 0.0012, HOME[0] + 0.0011, "lick 2")]
    plan = plan_lookout(points, aircraft=get_aircraft("arducopter-quad"), radius_m=20,
                        time_s=40, altitude_m=30, home=HOME[:2], home_alt_amsl=HOME[2])
    now = [0.0]
    v = Vehicle(HOME, ParamTable(vehicle_params(plan)), lambda: now[0],
                lambda severity, text: None, lambda msg: None, boot_time_s=1.0)
    v.mission.set_items([StoredItem(int(it.command), int(it.frame), it.param1, it.param2,
                                    it.param3, it.param4, round(it.lat * 1e7),
                                    round(it.lon * 1e7), it.alt)
                         for it in plan.sorties[0].items])
    top_speed = 0.0
    i = 0

    def step():
        nonlocal i, top_speed
        dt = slices[i % len(slices)]
        i += 1
        now[0] += dt
        v.step(dt)
        top_speed = max(top_speed, v.k.groundspeed)

    while now[0] < 2.0:
        step()
    assert v.set_mode(MODES["GUIDED"]) is None and v.arm() == []
    assert v.mission_start()
    while v.armed and now[0] < limit_s:
        step()
    return dict(armed=v.armed, flown_s=v.flight_time_s, reached=list(v.reached),
                top_speed=top_speed, used_mah=v.battery.consumed_mah,
                cruise=v.wp_speed())


@pytest.fixture(scope="module")
def even():
    return _fly([0.05])


def test_even_steps_fly_the_lookouts_and_land(even):
    assert not even["armed"], "still flying after 30 min"
    assert even["reached"] == [1, 3, 4, 5]
    assert even["top_speed"] <= even["cruise"] + 0.5


def test_a_microsecond_step_after_each_full_one_flies_the_same(even):
    ragged = _fly([0.05, 1e-6])
    assert not ragged["armed"], "still flying after 30 min"
    assert ragged["reached"] == even["reached"]
    # circling used to read a centimetre over a microsecond as hundreds of m/s
    assert ragged["top_speed"] <= ragged["cruise"] + 0.5, ragged["top_speed"]
    assert ragged["flown_s"] == pytest.approx(even["flown_s"], rel=0.05)
    assert ragged["used_mah"] == pytest.approx(even["used_mah"], rel=0.05)
