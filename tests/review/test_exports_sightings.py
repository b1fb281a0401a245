"""Sighting exports (the default): one entry per object with every frame's SHA-256, read back
with independent readers; SMART incidents keep their ids when exported or sent again, also after
more frames of the object came in."""

from __future__ import annotations

import csv
import json
import zipfile
from xml.etree import ElementTree as ET

import pyogrio
import pytest
from click.testing import CliRunner
from reviewflight import make_survey_flight, sha256_file
from test_exports import CA, FakeConnect

from processing.export import export_flight
from processing.store import FlagRecord, FlightDB, FlightStore
from processing.store.sightings import decide_sighting, update_sightings
from uav.cli import cli

KML = "{http://www.opengis.net/kml/2.2}"


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    fl = make_survey_flight(tmp_path_factory.mktemp("sightings-export"))
    with FlightStore.open(fl.gpkg) as store:
        update_sightings(store)
    db = FlightDB(fl.gpkg)
    items = {s["cls"]: s for s in db.all_sightings()}
    db.close()
    with FlightStore.open(fl.gpkg) as store:
        decide_sighting(store, items["fire"]["fid"], "confirmed", "=spreading east", "Ivanova", 0)
        decide_sighting(store, items["smoke"]["fid"], "rejected", None, "Ivanova", 0)
    fl.items = items
    fl.sha = {p.name: sha256_file(p) for p in fl.frames}
    return fl


def _frames_of(fl, s) -> set[str]:
    return {f["frame_name"] for f in s["flags"]}


def test_geojson_one_feature_per_confirmed_sighting(survey, tmp_path):
    out = tmp_path / "s.geojson"
    res = export_flight(survey.gpkg, "geojson", out)
    assert res.count == 1
    feat = json.loads(out.read_text())["features"][0]
    p = feat["properties"]
    fire = survey.items["fire"]
    assert p["sighting_id"] == fire["fid"] and p["class"] == "fire" and p["status"] == "confirmed"
    assert (p["frames_flagged"], p["frames_covering"], p["n_flags"]) == (6, 6, 6)
    assert p["note"] == "=spreading east" and p["reviewer"] == "Ivanova"
    # evidence: every frame that flagged it, each with the SHA-256 of the file on disk
    assert {e["frame_name"] for e in p["evidence"]} == _frames_of(survey, fire)
    assert all(e["frame_sha256"] == survey.sha[e["frame_name"]] for e in p["evidence"])
    assert p["best_frame_sha256"] == p["evidence"][0]["frame_sha256"]
    info = pyogrio.read_info(out)
    assert info["features"] == 1 and info["geometry_type"] == "Point" and info["crs"] == "EPSG:4326"
    # all: the three sightings, best first
    res = export_flight(survey.gpkg, "geojson", out, status="all")
    classes = [f["properties"]["class"] for f in json.loads(out.read_text())["features"]]
    assert res.count == 3 and classes == ["fire", "vehicle", "smoke"]


def test_csv_kml_kmz(survey, tmp_path):
    res = export_flight(survey.gpkg, "csv", tmp_path / "s.csv", status="all")
    rows = list(csv.DictReader((tmp_path / "s.csv").open(encoding="utf-8")))
    assert res.count == 3 and [r["class"] for r in rows] == ["fire", "vehicle", "smoke"]
    fire = rows[0]
    assert fire["note"] == "'=spreading east"     # never a spreadsheet formula
    assert fire["frames_flagged"] == "6" and fire["status"] == "confirmed"
    for name in _frames_of(survey, survey.items["fire"]):
        assert f"{name} sha256:{survey.sha[name]}" in fire["evidence"]

    res = export_flight(survey.gpkg, "kml", tmp_path / "s.kml")
    pms = ET.parse(tmp_path / "s.kml").getroot().findall(f".//{KML}Placemark")
    assert res.count == 1 and len(pms) == 1
    desc = pms[0].find(f"{KML}description").text
    assert all(survey.sha[n] in desc for n in _frames_of(survey, survey.items["fire"]))
    assert (tmp_path / "s_files" / f"sighting-{survey.items['fire']['fid']}.jpg").stat().st_size > 500

    res = export_flight(survey.gpkg, "kmz", tmp_path / "s.kmz", status="all")
    with zipfile.ZipFile(tmp_path / "s.kmz") as z:
        names = z.namelist()
        doc = ET.fromstring(z.read("doc.kml"))
    assert res.count == 3 and names[0] == "doc.kml" and len(names) == 4  # a picture per sighting
    assert len(doc.findall(f".//{KML}Placemark")) == 3


def test_smart_one_incident_per_sighting_stable_ids(survey, tmp_path):
    srv = FakeConnect()
    try:
        res = export_flight(survey.gpkg, "smart", tmp_path / "a.json", status="all", smart_url=srv.url,
                            smart_ca_uuid=CA, smart_auth=("ranger", "s3cret"))
        assert res.count == 3 and res.posted == 3 and not srv.problems, srv.problems
    finally:
        srv.close()
    feats = json.loads((tmp_path / "a.json").read_text())["features"]
    fire = next(f for f in feats if "fire sighting" in f["properties"]["smartAttributes"]["comment"])
    comment = fire["properties"]["smartAttributes"]["comment"]
    assert "flagged in 6 of 6 frame(s)" in comment
    assert all(survey.sha[n] in comment for n in _frames_of(survey, survey.items["fire"]))
    assert fire["properties"]["smartAttributes"]["attachments"][0]["filename"].endswith(".jpg")
    ids = [f["properties"]["smartAttributes"]["incidentUuid"] for f in feats]
    assert len(set(ids)) == 3
    # Re-export: the same incidents.  Then one more frame of the fire arrives and is grouped in:
    # the fire keeps its incident (SMART updates it rather than adding a duplicate).
    again = export_flight(survey.gpkg, "smart", tmp_path / "b.json", status="all")
    assert again.uuids == res.uuids
    with FlightStore.open(survey.gpkg) as store:
        best = store.flag(survey.items["fire"]["best_flag_fid"])
        frame = store.frame(best.frame_fid)
        frame.path = str(survey.frames[0].with_name("DJI_0099.JPG"))
        frame.fid = None
        store.add_frame_result(frame, [FlagRecord(cls="fire", score=0.5, px_x0=best.px_x0 + 2, px_y0=best.px_y0,
                                                  px_x1=best.px_x1 + 2, px_y1=best.px_y1, lat=best.lat, lon=best.lon)])
        update_sightings(store)
    later = export_flight(survey.gpkg, "smart", tmp_path / "c.json", status="all")
    assert later.uuids == res.uuids
    comment = json.loads((tmp_path / "c.json").read_text())["features"][0]["properties"]["smartAttributes"]["comment"]
    assert "flagged in 7 of" in comment


def test_cli_exports_sightings_by_default(survey, tmp_path):
    out = tmp_path / "cli.geojson"
    r = CliRunner().invoke(cli, ["export", str(survey.gpkg), "--to", "geojson", "-o", str(out), "--status", "all"])
    assert r.exit_code == 0, r.output
    assert f"Wrote 3 sightings to {out} (geojson)" in r.output
    r = CliRunner().invoke(cli, ["export", str(survey.gpkg), "--to", "geojson", "-o", str(out), "--per-flag",
                                 "--status", "all"])
    assert r.exit_code == 0 and "flags to" in r.output
    assert len(json.loads(out.read_text())["features"]) >= 10
