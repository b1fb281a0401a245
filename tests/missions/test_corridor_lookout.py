"""Corridors along a road, lookout orbits and perimeter patrols."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from plangeo_helpers import (
    CAM,
    QUAD,
    coverage,
    exclusion,
    flight_path,
    ll,
    poly,
    positions,
    to_m,
    u_sector,
)
from shapely.geometry import LineString, Point

from missions.corridor import plan_corridor
from missions.estimate import estimate_mission
from missions.lookout import plan_lookout, plan_perimeter
from missions.model import PlanKind
from uav.errors import InvalidInputError, PlanningError
from uav.items import Cmd

ROAD = [(0, 0), (1500, 300), (3000, 200)]


def test_corridor_legs_inside_and_covering():
    route = LineString(ll(ROAD))
    zone = poly([(1400, 200), (1600, 200), (1600, 500), (1400, 500)])  # a village on the road
    plan = plan_corridor(route, width_m=200, camera=CAM, aircraft=QUAD, altitude_m=80, exclusions=[zone])
    assert plan.kind == PlanKind.CORRIDOR
    corridor = to_m(route).buffer(100, cap_style="flat")
    allowed = corridor.difference(to_m(zone))
    for leg in plan.legs:
        assert allowed.buffer(0.01).covers(to_m(LineString(leg)))
    for m in plan.sorties:
        assert not flight_path(m).intersects(to_m(zone))
    assert coverage(plan.sorties, CAM, 80, allowed) >= 0.99
    across, _ = CAM.footprint_m(80)
    expected = math.ceil((200 - across) / plan.stats.line_spacing_m) + 1
    offsets = set()
    for leg in plan.legs:
        mid = to_m(LineString(leg)).interpolate(0.5, normalized=True)
        near = to_m(route).interpolate(to_m(route).project(mid))
        offsets.add(round(math.copysign(to_m(route).distance(mid), mid.y - near.y)))
    assert len(offsets) == expected


def test_corridor_errors():
    with pytest.raises(PlanningError, match="corridor width must be positive"):
        plan_corridor(LineString(ll(ROAD)), width_m=0, camera=CAM, aircraft=QUAD, altitude_m=80)
    with pytest.raises(InvalidInputError, match="must be a line, got a Point"):
        plan_corridor(Point(131.2, 43.1), width_m=100, camera=CAM, aircraft=QUAD, altitude_m=80)
    gappy = shapely.MultiLineString([ll([(0, 0), (100, 0)]), ll([(500, 0), (600, 0)])])
    with pytest.raises(InvalidInputError, match="route has gaps"):
        plan_corridor(gappy, width_m=100, camera=CAM, aircraft=QUAD, altitude_m=80)


def test_lookout_orbits_each_point_for_the_time():
    pts = [(*ll([(100, 100)])[0], "salt lick"), (*ll([(1000, 800)])[0], "ridge"), (*ll([(500, -300)])[0], "ford")]
    plan = plan_lookout(pts, aircraft=QUAD, radius_m=50, time_s=120, altitude_m=60,
                        exclusions=[exclusion()])
    orbits = [it for it in plan.mission.items if it.command == Cmd.NAV_LOITER_TURNS]
    assert len(orbits) == 3
    # ArduCopter orbits no faster than sqrt(0.5 * accel * r) and CIRCLE_RATE (20 deg/s) * r:
    # at 50 m that is well under cruise, so the turns are fewer than circumference/cruise says.
    v = min(QUAD.cruise_speed_ms, math.sqrt(0.5 * QUAD.acceleration_ms2 * 50), math.radians(20) * 50)
    assert v < 0.9 * QUAD.cruise_speed_ms
    lap = 2 * math.pi * 50 / v
    for it in orbits:
        assert it.param3 == 50
        # whole turns (ArduPilot keeps LOITER_TURNS whole and cuts a fraction off), the fewest
        # that watch the point for the 120 s asked
        assert it.param1 == int(it.param1)
        assert 120 <= it.param1 * lap < 120 + lap
    placed = {(round(it.lat, 5), round(it.lon, 5)) for it in orbits}
    assert placed == {(round(p[1], 5), round(p[0], 5)) for p in pts}
    est = estimate_mission(plan.mission, QUAD)
    assert est.hover_s == pytest.approx(3 * orbits[0].param1 * lap, rel=0.02)
    assert not flight_path(plan.mission).intersects(to_m(exclusion()))
    assert plan.settings["order"][0] == "salt lick"


def test_lookout_hover_and_errors():
    pts = [ll([(0, 0)])[0], ll([(300, 0)])[0]]
    plan = plan_lookout(pts, aircraft=QUAD, radius_m=0, time_s=30, altitude_m=40)
    loiters = [it for it in plan.mission.items if it.command == Cmd.NAV_LOITER_TIME]
    assert [it.param1 for it in loiters] == [30, 30]
    with pytest.raises(InvalidInputError, match="no lookout points"):
        plan_lookout([], aircraft=QUAD, altitude_m=40)
    with pytest.raises(InvalidInputError, match="not a longitude,latitude pair"):
        plan_lookout([(43.1, 231.2)], aircraft=QUAD, altitude_m=40)
    with pytest.raises(PlanningError, match="lookout 'hut' .* within 10 m of an exclusion zone"):
        plan_lookout([(*ll([(1000, 500)])[0], "hut")], aircraft=QUAD, altitude_m=40, radius_m=30,
                     exclusions=[exclusion()], home=ll([(0, 0)])[0][::-1])


def test_perimeter_flies_the_inset_boundary():
    sector = poly([(0, 0), (800, 0), (800, 600), (0, 600)])
    plan = plan_perimeter(sector, inset_m=40, altitude_m=50, aircraft=QUAD)
    assert plan.kind == PlanKind.PERIMETER
    ring = to_m(sector).exterior
    wps = [Point(x, y) for seq, x, y in positions(plan.mission)[1:-1]]
    assert len(wps) >= 4
    for p in wps:
        assert ring.distance(p) == pytest.approx(40, abs=1.0)
    # Goes all the way round: its path is about the inset ring's length.
    inset_len = to_m(sector).buffer(-40).exterior.length
    path = LineString([(p.x, p.y) for p in wps])
    assert path.length == pytest.approx(inset_len, rel=0.05)
    with pytest.raises(PlanningError, match="leaves nothing of the sector"):
        plan_perimeter(sector, inset_m=400, altitude_m=50, aircraft=QUAD)


def test_perimeter_routes_around_an_exclusion_on_the_boundary():
    zone = poly([(1150, 400), (1300, 400), (1300, 600), (1150, 600)])  # straddles the east edge
    plan = plan_perimeter(u_sector(), inset_m=20, altitude_m=50, aircraft=QUAD, exclusions=[zone])
    assert not flight_path(plan.mission).intersects(to_m(zone))
    assert np.isfinite(plan.stats.flight_time_s)


def test_orbit_speed_follows_the_circle_controller_limits():
    from missions.estimate import orbit_speed_ms

    assert orbit_speed_ms(0, 10, 2.5) == 10                                   # hover: no orbit
    assert orbit_speed_ms(10, 10, 2.5) == pytest.approx(math.radians(20) * 10)  # CIRCLE_RATE bound
    assert orbit_speed_ms(50, 10, 2.5) == pytest.approx(math.sqrt(0.5 * 2.5 * 50))  # acceleration bound
    assert orbit_speed_ms(500, 10, 2.5) == 10                                 # big orbit: cruise
