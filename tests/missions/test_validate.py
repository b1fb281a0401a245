"""Validation names the item and the reason for every broken rule."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
from plangeo_helpers import ll, poly

from missions.estimate import estimate_mission
from missions.survey import plan_survey
from missions.validate import validate_plan
from uav.errors import PlanValidationError
from uav.items import Cmd
from uav.profiles import AIRCRAFT, CAMERAS

CAM = CAMERAS["mavic3e-wide"]
AC = AIRCRAFT["mavic3e"]


@pytest.fixture()
def plan():
    return plan_survey(poly([(0, 0), (400, 0), (400, 300), (0, 300)]), camera=CAM, aircraft=AC,
                       altitude_m=60, exclusions=[poly([(150, 100), (250, 100), (250, 200), (150, 200)])])


def first_wp(plan):
    return next(i for i, it in enumerate(plan.mission.items) if i > 2 and it.command == Cmd.NAV_WAYPOINT)


def test_planner_output_is_valid(plan):
    assert validate_plan(plan) == []
    assert validate_plan(plan, fence_margin_m=9.0) == []


def test_waypoint_outside_the_fence_is_named(plan):
    seq = first_wp(plan)
    lon, lat = ll([(2000, 2000)])[0]
    plan.mission.items[seq] = plan.mission.items[seq].with_(lat=lat, lon=lon)
    with pytest.raises(PlanValidationError, match=f"item {seq}: path to it leaves inclusion fence 1") as e:
        validate_plan(plan)
    # The way out there and the way back both leave the fence.
    assert sum("leaves inclusion fence 1" in p for p in e.value.problems) >= 2


def test_waypoint_in_an_exclusion_is_named(plan):
    seq = first_wp(plan)
    lon, lat = ll([(200, 150)])[0]
    plan.mission.items[seq] = plan.mission.items[seq].with_(lat=lat, lon=lon)
    problems = validate_plan(plan, raise_on_error=False)
    assert any(p.startswith(f"item {seq}: path to it enters exclusion fence 1") for p in problems)


def test_margin_is_enforced(plan):
    problems = validate_plan(plan, fence_margin_m=60.0, raise_on_error=False)
    assert any("comes within" in p and "margin 60 m" in p for p in problems) or any(
        "passes" in p and "margin 60 m" in p for p in problems)


def test_altitude_over_ceiling(plan):
    seq = first_wp(plan)
    plan.mission.items[seq] = plan.mission.items[seq].with_(alt=150.0)
    with pytest.raises(PlanValidationError, match=f"item {seq}: altitude 150.0 m above home is over the aircraft ceiling 120 m"):
        validate_plan(plan)


def test_item_count_limit(plan):
    n = len(plan.mission.items)
    with pytest.raises(PlanValidationError, match=f"mission has {n} items, the vehicle takes 10"):
        validate_plan(plan, max_items=10)


def test_photo_interval_too_short(plan):
    seq = next(i for i, it in enumerate(plan.mission.items)
               if it.command == Cmd.DO_SET_CAM_TRIGG_DIST and it.param1 > 0)
    plan.mission.items[seq] = plan.mission.items[seq].with_(param1=3.0)
    with pytest.raises(PlanValidationError, match=f"item {seq}: photos every 3 m at 10 m/s .* needs 0.7 s"):
        validate_plan(plan)


def test_sortie_over_endurance(plan):
    est = estimate_mission(plan.mission, AC)
    weak = replace(AC, endurance_s=est.time_s)  # 25 % reserve makes it too short
    p2 = copy.copy(plan)
    p2.aircraft = weak
    with pytest.raises(PlanValidationError, match="estimated flight time .* over the usable endurance"):
        validate_plan(p2)


def test_home_must_be_first(plan):
    plan.mission.items[0] = plan.mission.items[1]
    problems = validate_plan(plan, raise_on_error=False)
    assert any(p.startswith("item 0: must be the home position") for p in problems)


def test_fence_larger_than_the_vehicle_stores_is_named(plan):
    from missions.validate import fence_point_count

    n, polygons = fence_point_count(plan.fence)
    assert polygons == 2 and n == len(plan.fence)  # inclusion + the exclusion zone
    assert validate_plan(plan, max_fence_points=n) == []
    with pytest.raises(PlanValidationError,
                       match=f"fence item {n - 1}: the fence has {n} points in 2 polygon\\(s\\), the "
                             f"vehicle stores {n - 1}; widen the fence buffer"):
        validate_plan(plan, max_fence_points=n - 1)
    assert validate_plan(plan, max_fence_points=None) == []


def test_planner_refuses_a_fence_the_vehicle_cannot_store():
    zones = [poly([(x, 40), (x + 30, 40), (x + 30, 70), (x, 70)]) for x in range(20, 380, 60)]
    kw = dict(camera=CAM, aircraft=AC, altitude_m=60, exclusions=zones)
    sector = poly([(0, 0), (400, 0), (400, 300), (0, 300)])
    ok = plan_survey(sector, **kw)  # 6 square zones + a rectangle: well under 60 points
    with pytest.raises(PlanValidationError, match="the fence has .* points in 7 polygon.*vehicle stores 20"):
        plan_survey(sector, max_fence_points=20, **kw)
    assert ok.settings["max_fence_points"] == 60
