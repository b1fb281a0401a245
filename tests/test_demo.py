"""`uav demo`: the whole loop on the bundled sector, scored against the planted truth.

A shortened demo (a sparser survey) so CI runs it in well under a minute; the numbers it
prints are checked here so a change that breaks the loop breaks CI.
"""

import json

import pytest
from click.testing import CliRunner

from uav.cli import cli

# Six objects are planted; the quick demo finds all six on this machine.  One may be missed when
# camera triggers shift with the simulation's timing, and that is all the slack allowed.
DEMO_MIN_FOUND = 5


@pytest.mark.slow
def test_quick_demo_finds_the_planted_objects(sim_backend, tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--quick", "--backend", sim_backend,
                                      "--speedup", "80", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "uav review" in result.output
    report = json.loads((out / "demo-report.json").read_text())

    sortie = report["rehearsal"]["sorties"][0]
    assert sortie["ok"], sortie
    assert abs(sortie["photos_taken"] - sortie["planned_photos"]) <= max(2, 0.05 * sortie["planned_photos"])

    score = report["score"]
    # every planted object found, within 15 m on the map, and nothing invented
    assert score["planted"] == 6
    assert score["found"] >= DEMO_MIN_FOUND, score
    assert score["max_error_m"] < 15.0
    assert score["false_sightings"] <= 1, score
    line = next(ln for ln in result.output.splitlines() if "planted objects found" in ln)
    assert f"{score['found']} of 6 planted objects found within 15 m" in line

    # the outputs the demo promises exist and are readable by independent readers
    import sqlite3

    con = sqlite3.connect(out / "flight.gpkg")
    frames = con.execute("SELECT count(*) FROM frames WHERE status = 'done'").fetchone()[0]
    flags = con.execute("SELECT count(*) FROM flags WHERE geom IS NOT NULL").fetchone()[0]
    con.close()
    assert frames == sortie["photos_taken"] and flags >= score["found"]
    gj = json.loads((out / "flags.geojson").read_text())
    assert len(gj["features"]) == flags
    assert (out / "demo.plan").exists() and (out / "track.geojson").exists()

    # The sightings layer: one sighting per planted object, of its class, within 15 m; at most
    # one sighting beyond them; many flags per sighting (the quick survey overlaps less than
    # the full demo's, where flags outnumber sightings more than three to one).
    sg = report["sightings"]
    assert sg["found"] >= DEMO_MIN_FOUND, sg
    assert sg["max_error_m"] < 15.0
    assert sg["extra_sightings"] <= 1, sg
    assert sg["flags"] == flags and sg["flags"] >= 2.5 * sg["sightings"], sg
    line = next(ln for ln in result.output.splitlines() if "sightings layer:" in ln)
    assert f"{sg['found']} of 6 planted objects have a sighting of their class within 15 m" in line
    con = sqlite3.connect(out / "flight.gpkg")
    layer = con.execute("SELECT count(*) FROM sightings").fetchone()[0]
    linked = con.execute("SELECT count(*) FROM flags WHERE sighting_id IN (SELECT fid FROM sightings)").fetchone()[0]
    con.close()
    assert layer == sg["sightings"] and linked == flags
    positioned = json.loads((out / "sightings.geojson").read_text())["features"]
    assert len(positioned) == layer and all(f["properties"]["evidence"] for f in positioned)

