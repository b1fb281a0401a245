"""Exports read back with independent readers; SMART sent to a fake Connect server on loopback."""

from __future__ import annotations

import base64
import csv
import json
import sqlite3
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.etree import ElementTree as ET

import cv2
import numpy as np
import pyogrio
import pytest
from click.testing import CliRunner
from reviewflight import make_flight, sha256_file

from processing.export import export_flight
from processing.export.smart import load_mapping
from processing.store import FlightStore
from uav.cli import cli
from uav.errors import ExportError, InvalidInputError

KML = "{http://www.opengis.net/kml/2.2}"
NOTE = '<b>big</b> smoke & "flames" =HYPERLINK("x")'
CA = "7f1d7c0e-3b7e-4a55-9a9f-0c1a2b3c4d5e"


@pytest.fixture(scope="module")
def flight(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    fl = make_flight(root, evil_name=False)
    fids = fl.flag_fids
    with FlightStore.open(fl.gpkg) as store:
        store.set_decision(fids[0], "confirmed", NOTE, "Ivanova", 0)
        store.set_decision(fids[2], "confirmed", None, "Petrov", 0)
        store.set_decision(fids[1], "rejected", "sun glint", "Petrov", 0)
        store.set_decision(fids[3], "uncertain", None, "Petrov", 0)
        store.set_decision(fids[-1], "confirmed", "no GPS on this frame", "Ivanova", 0)
    fl.hashes = {p: (sha256_file(p), p.stat().st_mtime_ns) for p in fl.frames}
    fl.confirmed = {fids[0], fids[2], fids[-1]}
    fl.no_position = fids[-1]
    return fl


def _frames_untouched(fl):
    for p, (sha, mtime) in fl.hashes.items():
        assert sha256_file(p) == sha and p.stat().st_mtime_ns == mtime, f"{p} was modified"


def test_geojson_for_qgis(flight, tmp_path):
    out = tmp_path / "flags.geojson"
    res = export_flight(flight.gpkg, "geojson", out, per_flag=True)
    assert res.count == 2 and res.without_position == [flight.no_position]
    assert any("no map position" in w for w in res.warnings)
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection"
    by_id = {f["properties"]["flag_id"]: f for f in doc["features"]}
    assert set(by_id) == flight.confirmed - {flight.no_position}
    for f in doc["features"]:
        lon, lat = f["geometry"]["coordinates"]
        assert 131.2 < lon < 131.3 and 43.0 < lat < 43.2  # lon, lat order
        p = f["properties"]
        frame = next(fp for fp in flight.frames if str(fp) == p["frame_path"])
        assert p["frame_sha256"] == sha256_file(frame)
        assert p["status"] == "confirmed" and p["px_x1"] > p["px_x0"]
    assert by_id[flight.flag_fids[0]]["properties"]["note"] == NOTE
    # GDAL (through pyogrio) reads it as a point layer in WGS84 with our fields.
    info = pyogrio.read_info(out)
    assert info["features"] == 2 and info["geometry_type"] == "Point" and info["crs"] == "EPSG:4326"
    assert {"flag_id", "class", "frame_sha256", "note", "status"} <= set(info["fields"])
    _frames_untouched(flight)


def test_kml_for_google_earth(flight, tmp_path):
    out = tmp_path / "flags.kml"
    res = export_flight(flight.gpkg, "kml", out, status="all", per_flag=True)
    assert res.count == 8  # nine flags, one without position
    root = ET.parse(out).getroot()
    pms = root.findall(f".//{KML}Placemark")
    assert len(pms) == 8
    pm = next(p for p in pms if p.get("id") == f"flag-{flight.flag_fids[0]}")
    lon, lat, _ = map(float, pm.find(f"{KML}Point/{KML}coordinates").text.split(","))
    assert 131.2 < lon < 131.3 and 43.0 < lat < 43.2
    desc = pm.find(f"{KML}description").text
    # The note is HTML-escaped inside the balloon: Google Earth shows it, never renders it.
    assert "&lt;b&gt;big&lt;/b&gt; smoke &amp; &quot;flames&quot;" in desc and "<b>big" not in desc
    data = {d.get("name"): d.find(f"{KML}value").text for d in pm.findall(f"{KML}ExtendedData/{KML}Data")}
    assert data["note"] == NOTE and data["status"] == "confirmed"
    assert data["frame_sha256"] == sha256_file(flight.frames[0])
    assert pm.find(f"{KML}TimeStamp/{KML}when").text == "2024-04-18T03:10:00Z"
    assert pm.find(f"{KML}styleUrl").text == "#cls-fire"
    # The balloon shows the flag's crop, from a folder beside the KML (a KML holds no pictures).
    src = desc.split('<img src="', 1)[1].split('"', 1)[0]
    assert src == f"flags_files/flag-{flight.flag_fids[0]}.jpg"
    img = cv2.imdecode(np.fromfile(str(out.parent / src), np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and max(img.shape[:2]) <= 320
    assert len(list((tmp_path / "flags_files").glob("flag-*.jpg"))) == 8
    assert any("send that folder with the KML" in w for w in res.warnings)
    assert pyogrio.read_info(out)["features"] == 8
    _frames_untouched(flight)


def test_kml_named_kmz_is_zipped(flight, tmp_path):
    out = tmp_path / "flags.kmz"
    res = export_flight(flight.gpkg, "kml", out, per_flag=True)
    assert res.count == 2 and zipfile.is_zipfile(out)
    with zipfile.ZipFile(out) as z:
        assert z.namelist()[0] == "doc.kml" and len(z.namelist()) == 3


def test_kmz_embeds_the_crops(flight, tmp_path):
    out = tmp_path / "flags.kmz"
    res = export_flight(flight.gpkg, "kmz", out, per_flag=True)
    assert res.count == 2
    with zipfile.ZipFile(out) as z:
        assert z.testzip() is None
        names = z.namelist()
        assert names[0] == "doc.kml"
        root = ET.fromstring(z.read("doc.kml"))
        pms = root.findall(f".//{KML}Placemark")
        assert len(pms) == 2
        for pm in pms:
            desc = pm.find(f"{KML}description").text
            src = desc.split('<img src="', 1)[1].split('"', 1)[0]
            assert src in names
            img = cv2.imdecode(np.frombuffer(z.read(src), np.uint8), cv2.IMREAD_COLOR)
            assert img is not None and max(img.shape[:2]) <= 320 and min(img.shape[:2]) > 50
    _frames_untouched(flight)


def test_csv_lists_every_confirmed_flag(flight, tmp_path):
    out = tmp_path / "flags.csv"
    res = export_flight(flight.gpkg, "csv", out, per_flag=True)
    assert res.count == 3
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["flag_id"]) for r in rows] and {int(r["flag_id"]) for r in rows} == flight.confirmed
    first = next(r for r in rows if int(r["flag_id"]) == flight.flag_fids[0])
    assert float(first["lat"]) == pytest.approx(43.1021, abs=0.001) and float(first["lon"]) > 131
    assert first["class"] == "fire" and float(first["score"]) == pytest.approx(0.95)
    assert first["time"] == "2024-04-18T03:10:00Z" and first["frame_path"] == str(flight.frames[0])
    assert [float(first[c]) for c in ("px_x0", "px_y0", "px_x1", "px_y1")] == [40, 60, 100, 120]
    assert first["status"] == "confirmed" and first["reviewer"] == "Ivanova"
    assert first["note"] == NOTE  # starts with '<': left as is
    assert first["frame_sha256"] == sha256_file(flight.frames[0])
    no_pos = next(r for r in rows if int(r["flag_id"]) == flight.no_position)
    assert no_pos["lat"] == "" and no_pos["position_note"] == "frame has no GPS position"
    out_all = tmp_path / "all.csv"
    assert export_flight(flight.gpkg, "csv", out_all, status="all", per_flag=True).count == 9
    _frames_untouched(flight)


def test_export_files_are_readable_by_others(flight, tmp_path):
    import os
    import stat

    umask = os.umask(0o022)
    os.umask(umask)
    out = tmp_path / "share.geojson"
    export_flight(flight.gpkg, "geojson", out, per_flag=True)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_smart_keeps_camera_clock_times(tmp_path):
    from processing.export.smart import _local_time

    assert _local_time("2024-04-18T03:10:00Z", "Asia/Vladivostok") == "2024-04-18T13:10:00"
    # No offset: the camera's own clock (local time), passed on unchanged.
    assert _local_time("2016-06-23T16:31:59", "Asia/Vladivostok") == "2016-06-23T16:31:59"
    fl = make_flight(tmp_path, n_frames=1, evil_name=False, with_pose_less=False)
    con = sqlite3.connect(fl.gpkg)
    con.execute("UPDATE frames SET time = '2024-04-18T13:10:00'")
    con.commit()
    con.close()
    res = export_flight(fl.gpkg, "smart", tmp_path / "s.json", status="all", smart_attachments=False, per_flag=True)
    assert any("no time zone (camera clock)" in w and "Asia/Vladivostok" in w for w in res.warnings)
    doc = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    assert {f["properties"]["dateTime"] for f in doc["features"]} == {"2024-04-18T13:10:00"}


def test_csv_defuses_spreadsheet_formulas(tmp_path):
    fl = make_flight(tmp_path, n_frames=1, evil_name=False, with_pose_less=False)
    with FlightStore.open(fl.gpkg) as store:
        store.set_decision(fl.flag_fids[0], "confirmed", '=HYPERLINK("http://x","click")', "@admin", 0)
    out = tmp_path / "f.csv"
    export_flight(fl.gpkg, "csv", out, per_flag=True)
    row = next(csv.DictReader(open(out, newline="", encoding="utf-8")))
    assert row["note"] == "'=HYPERLINK(\"http://x\",\"click\")" and row["reviewer"] == "'@admin"


def test_flight_geopackage_still_reads_in_gdal_and_sqlite(flight):
    info = pyogrio.read_info(flight.gpkg, layer="flags")
    assert info["features"] == 9 and info["geometry_type"] == "Point"
    meta, _, geoms, fields = pyogrio.raw.read(flight.gpkg, layer="flags", columns=["status", "reviewer"])
    statuses = list(fields[0])
    assert statuses.count("confirmed") == 3 and statuses.count("rejected") == 1
    con = sqlite3.connect(flight.gpkg)
    try:
        hist = con.execute("SELECT flag_fid, status, reviewer FROM decisions ORDER BY id").fetchall()
        assert hist[0] == (flight.flag_fids[0], "confirmed", "Ivanova") and len(hist) == 5
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()


# --- SMART -----------------------------------------------------------------------------------------
def test_smart_incidents_file_and_stable_uuids(flight, tmp_path):
    out = tmp_path / "smart.json"
    res = export_flight(flight.gpkg, "smart", out, per_flag=True)
    assert res.count == 2 and len(set(res.uuids)) == 2
    doc = json.loads(out.read_text(encoding="utf-8"))
    mapping = load_mapping()
    for feat in doc["features"]:
        props = feat["properties"]
        assert props["smartDataType"] == "incident" and props["smartFeatureType"] == "waypoint/new"
        # 03:10 UTC is 13:10 in Vladivostok (UTC+10), written the way SMART stores it.
        assert props["dateTime"] in {"2024-04-18T13:10:00", "2024-04-18T13:11:00"}
        sa = props["smartAttributes"]
        obs = sa["observationGroups"][0]["observations"][0]
        assert obs["category"] in {mapping.classes[c]["category"] for c in ("fire", "smoke", "vehicle")}
        assert obs["attributes"]["uavimagehash"] in sa["comment"]
        assert len(obs["attributes"]["uavimagehash"]) == 64
        att = sa["attachments"][0]
        img = cv2.imdecode(np.frombuffer(base64.b64decode(att["data"]), np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and att["filename"].endswith(".jpg")
    fire = next(f for f in doc["features"] if "fire" in f["properties"]["smartAttributes"]["comment"])
    assert fire["properties"]["smartAttributes"]["observationGroups"][0]["observations"][0]["attributes"]["firetype"] == "forest"
    # A re-export names the same incidents and observations (no duplicates in SMART).
    res2 = export_flight(flight.gpkg, "smart", tmp_path / "again.json", per_flag=True)
    assert res2.uuids == res.uuids
    doc2 = json.loads((tmp_path / "again.json").read_text(encoding="utf-8"))
    assert [f["properties"]["smartAttributes"]["incidentUuid"] for f in doc2["features"]] == \
           [f["properties"]["smartAttributes"]["incidentUuid"] for f in doc["features"]]
    _frames_untouched(flight)


class FakeConnect:
    """A SMART Connect stand-in on loopback that checks what it receives."""

    def __init__(self, answer: int = 200):
        self.answer = answer
        self.received: list[dict] = []
        self.problems: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path != f"/server/api/data/{CA}":
                    fake.problems.append(f"wrong path {self.path}")
                want = "Basic " + base64.b64encode(b"ranger:s3cret").decode()
                if self.headers.get("Authorization") != want:
                    fake.problems.append("bad auth")
                if self.headers.get("Content-Type") != "application/json":
                    fake.problems.append("not json")
                feat = json.loads(body)
                props = feat.get("properties", {})
                if (feat.get("type") != "Feature" or feat["geometry"]["type"] != "Point"
                        or props.get("smartDataType") != "incident"
                        or props.get("smartFeatureType") != "waypoint/new"
                        or not props["smartAttributes"]["observationGroups"][0]["observations"][0]["category"]):
                    fake.problems.append("not a SMART incident")
                fake.received.append(feat)
                msg = b'{"status":"ok"}' if fake.answer == 200 else b'{"error":"Unauthorized user"}'
                self.send_response(fake.answer)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(msg)))
                self.end_headers()
                self.wfile.write(msg)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/server"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def test_smart_post_to_connect(flight, tmp_path):
    srv = FakeConnect()
    try:
        res = export_flight(flight.gpkg, "smart", tmp_path / "s.json", smart_url=srv.url, smart_ca_uuid=CA,
                            smart_auth=("ranger", "s3cret"), per_flag=True)
        assert res.posted == 2 and not srv.problems, srv.problems
        sent = [f["properties"]["smartAttributes"]["observationGroups"][0]["observations"][0]["observationUuid"]
                for f in srv.received]
        assert sent == res.uuids
        # Sending again sends the very same observation UUIDs: the server can recognise them.
        res2 = export_flight(flight.gpkg, "smart", tmp_path / "s2.json", smart_url=srv.url, smart_ca_uuid=CA,
                             smart_auth=("ranger", "s3cret"), per_flag=True)
        assert res2.posted == 2
        again = [f["properties"]["smartAttributes"]["observationGroups"][0]["observations"][0]["observationUuid"]
                 for f in srv.received[2:]]
        assert again == sent
    finally:
        srv.close()


def test_smart_post_errors_are_clear(flight, tmp_path):
    srv = FakeConnect(answer=401)
    try:
        with pytest.raises(ExportError, match=r"HTTP 401 .*check --smart-user.*0 of 2 sent.*Unauthorized user"):
            export_flight(flight.gpkg, "smart", tmp_path / "s.json", smart_url=srv.url, smart_ca_uuid=CA,
                          smart_auth=("ranger", "s3cret"), per_flag=True)
        assert (tmp_path / "s.json").is_file()  # the file is written before sending
    finally:
        srv.close()
    port = srv.httpd.server_address[1]  # closed now: nothing listens there
    with pytest.raises(ExportError, match="cannot reach SMART Connect"):
        export_flight(flight.gpkg, "smart", tmp_path / "s.json", smart_url=f"http://127.0.0.1:{port}/server",
                      smart_ca_uuid=CA, smart_timeout=5, per_flag=True)
    with pytest.raises(InvalidInputError, match="Conservation Area UUID"):
        export_flight(flight.gpkg, "smart", tmp_path / "s.json", smart_url=srv.url, per_flag=True)
    with pytest.raises(InvalidInputError, match="refusing to send SMART credentials over plain http"):
        export_flight(flight.gpkg, "smart", tmp_path / "s.json", smart_url="http://connect.example.org/server",
                      smart_ca_uuid=CA, smart_auth=("a", "b"), per_flag=True)
    with pytest.raises(InvalidInputError, match="is not a UUID"):
        export_flight(flight.gpkg, "smart", tmp_path / "s.json", smart_url=srv.url, smart_ca_uuid="park-7", per_flag=True)


def test_smart_mapping_errors(flight, tmp_path):
    partial = tmp_path / "partial.toml"
    partial.write_text('[park]\ntimezone = "Asia/Vladivostok"\n[classes.fire]\ncategory = "threats.fire"\n')
    with pytest.raises(InvalidInputError, match=r"has no category for flag class 'smoke' \(it maps fire\)"):
        export_flight(flight.gpkg, "smart", tmp_path / "s.json", smart_mapping=partial, per_flag=True)
    assert not (tmp_path / "s.json").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text("[classes.fire\n")
    with pytest.raises(InvalidInputError, match="cannot be read"):
        load_mapping(bad)
    tz = tmp_path / "tz.json"
    tz.write_text(json.dumps({"park": {"timezone": "Mars/Olympus"}, "classes": {"fire": {"category": "x"}}}))
    with pytest.raises(InvalidInputError, match="unknown time zone 'Mars/Olympus'"):
        load_mapping(tz)
    nocat = tmp_path / "nocat.toml"
    nocat.write_text("[classes.fire]\nattributes = { a = 1 }\n")
    with pytest.raises(InvalidInputError, match=r"\[classes.fire\] needs a category"):
        load_mapping(nocat)


def test_export_input_errors(flight, tmp_path):
    with pytest.raises(InvalidInputError, match="unknown export format 'shp'"):
        export_flight(flight.gpkg, "shp", tmp_path / "x", per_flag=True)
    with pytest.raises(InvalidInputError, match="--status must be one of confirmed, all"):
        export_flight(flight.gpkg, "csv", tmp_path / "x.csv", status="new", per_flag=True)
    with pytest.raises(InvalidInputError, match="would overwrite the flight GeoPackage"):
        export_flight(flight.gpkg, "geojson", flight.gpkg, per_flag=True)
    with pytest.raises(InvalidInputError, match="only makes sense with --to smart"):
        export_flight(flight.gpkg, "csv", tmp_path / "x.csv", smart_url="https://c.example.org", per_flag=True)


def test_cli_export(flight, tmp_path):
    runner = CliRunner()
    out = tmp_path / "cli.geojson"
    r = runner.invoke(cli, ["export", str(flight.gpkg), "--per-flag", "--to", "geojson", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert f"Wrote 2 confirmed flags to {out} (geojson)" in r.output
    assert "no map position" in r.output  # the warning about the pose-less flag
    assert len(json.loads(out.read_text())["features"]) == 2
    r = runner.invoke(cli, ["export", str(flight.gpkg), "--per-flag", "--to", "csv", "-o", str(tmp_path / "a.csv"),
                            "--smart-url", "https://c.example.org"])
    assert r.exit_code == 2 and "only makes sense with --to smart" in r.output
    r = runner.invoke(cli, ["export", str(flight.gpkg), "--per-flag", "--to", "smart", "-o", str(tmp_path / "a.json"),
                            "--smart-url", "https://c.example.org", "--smart-user", "ranger"])
    assert r.exit_code == 2 and "needs a password" in r.output
