"""Scoring flags against planted truth: sightings, matches, plume axes, false alarms."""

import json

import pytest

from processing.scoring import load_truth_objects, score_flags
from uav.errors import InvalidInputError
from uav.geo import offset_lonlat

LON, LAT = 131.27, 43.135


def at(east, north):
    lon, lat = offset_lonlat(LON, LAT, east, north)
    return float(lon), float(lat)


def flag(cls, east, north, score=0.9):
    lon, lat = at(east, north)
    return {"class": cls, "lon": lon, "lat": lat, "score": score}


def obj(oid, kind, east, north, size=4.0, heading=0.0):
    lon, lat = at(east, north)
    return {"id": oid, "kind": kind, "lon": lon, "lat": lat, "size_m": size, "heading_deg": heading}


def test_many_flags_of_one_object_are_one_sighting_and_count_once():
    truth = [obj("f1", "fire", 0, 0), obj("v1", "vehicle", 100, 0)]
    flags = [flag("fire", 1, 0), flag("fire", 0, 2), flag("fire", -1, -1), flag("vehicle", 103, 0)]
    s = score_flags(flags, truth, radius_m=15)
    assert s.found == 2 and s.planted == 2
    assert s.sightings_by_class() == {"fire": 1, "vehicle": 1}
    assert s.false_sightings == []
    assert s.max_error_m < 3.5


def test_wrong_class_or_too_far_is_not_found_and_far_flags_are_false_alarms():
    truth = [obj("f1", "fire", 0, 0), obj("v1", "vehicle", 100, 0)]
    flags = [flag("vehicle", 0, 0), flag("fire", 140, 0)]
    s = score_flags(flags, truth, radius_m=15)
    assert s.found == 0
    assert {o.id: o.found for o in s.objects} == {"f1": False, "v1": False}
    # a vehicle flag on the fire and a fire flag nowhere near a fire: both false
    assert len(s.false_sightings) == 2


def test_smoke_is_measured_to_the_plume_not_its_source():
    # 40 m plume drifting east: a box centre mid-plume is 20 m from the source, but on the plume
    truth = [obj("s1", "smoke", 0, 0, size=40.0, heading=90.0)]
    s = score_flags([flag("smoke", 20, 1)], truth, radius_m=15)
    assert s.found == 1 and s.objects[0].error_m == pytest.approx(1.0, abs=0.05)
    upwind = score_flags([flag("smoke", -20, 0)], truth, radius_m=15)
    assert upwind.found == 0


def test_unplaced_flags_are_ignored_and_bad_truth_is_refused(tmp_path):
    truth = [obj("f1", "fire", 0, 0)]
    s = score_flags([{"class": "fire", "lon": None, "lat": None, "score": 0.9}], truth)
    assert s.found == 0 and s.sightings == []
    with pytest.raises(InvalidInputError, match="no planted objects"):
        score_flags([], [])
    bad = tmp_path / "truth.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidInputError, match="cannot read the truth file"):
        load_truth_objects(bad)
    good = tmp_path / "t.json"
    good.write_text(json.dumps({"objects": truth}))
    assert load_truth_objects(good)[0]["id"] == "f1"
