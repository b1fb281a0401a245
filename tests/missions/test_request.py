"""The planners' contract as dataclasses: a request plans exactly what the keywords plan."""

from __future__ import annotations

import pytest
from plangeo_helpers import CAM, QUAD, ll, poly

from missions import (
    FlightOptions,
    ImagingOptions,
    LookoutRequest,
    PerimeterRequest,
    SurveyRequest,
    plan_lookout,
    plan_perimeter,
    plan_survey,
)
from uav.limits import VehicleLimits


def _items(plan):
    return [(i.command, round(i.lat, 7), round(i.lon, 7), round(i.alt, 2)) for m in plan.sorties for i in m.items]


def test_a_survey_request_plans_what_the_keywords_plan():
    sector = poly([(0, 0), (600, 0), (600, 400), (0, 400)])
    flight = FlightOptions(aircraft=QUAD, name="north block", limits=VehicleLimits(300, 40),
                           rally_points=[ll([(50, 50)])[0][::-1]])
    req = SurveyRequest(sector, ImagingOptions(CAM, altitude_m=70, front_overlap=0.7), angle_deg=30)
    plan = req.plan(flight)
    same = plan_survey(sector, camera=CAM, aircraft=QUAD, altitude_m=70, front_overlap=0.7,
                       angle_deg=30, name="north block", max_items=300, max_fence_points=40,
                       rally_points=[ll([(50, 50)])[0][::-1]])
    assert _items(plan) == _items(same) and len(plan.sorties[0].rally) == 1
    assert plan.name == "north block"
    assert (plan.settings["max_items"], plan.settings["max_fence_points"]) == (300, 40)


def test_lookout_and_perimeter_requests():
    pts = [(*ll([(100, 100)])[0], "lick 1"), (*ll([(700, 300)])[0], "lick 2")]
    flight = FlightOptions(aircraft=QUAD)
    a = LookoutRequest(pts, 50, radius_m=30, time_s=60).plan(flight)
    b = plan_lookout(pts, aircraft=QUAD, altitude_m=50, radius_m=30, time_s=60)
    assert _items(a) == _items(b)
    sector = poly([(0, 0), (600, 0), (600, 400), (0, 400)])
    a = PerimeterRequest(sector, 20, 50, laps=2).plan(flight)
    b = plan_perimeter(sector, inset_m=20, altitude_m=50, laps=2, aircraft=QUAD)
    assert _items(a) == _items(b)


def test_a_request_names_its_fields():
    with pytest.raises(TypeError, match="altitude"):
        SurveyRequest(poly([(0, 0), (10, 0), (10, 10)]), ImagingOptions(CAM), altitude=80)
