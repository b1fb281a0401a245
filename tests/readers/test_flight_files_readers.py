"""Every file `uav process`, `uav export` and `uav demo` write about a flight, read by its own
reader: the flight GeoPackage by GDAL's validate_gpkg.py and ogrinfo; GeoJSON exports by GDAL
and RFC 7946; KML/KMZ exports by GDAL's KML and LIBKML drivers; the demo's plan by
QGroundControl's loader rules; per-frame GeoTIFFs by gdalinfo and GDAL's Cloud Optimized
GeoTIFF validator (they are tiled with the image directory first, so GIS programs stream them;
they carry no overviews, which the validator notes as a warning, not an error); the quick-look
mosaic GeoTIFF by gdalinfo only (a small stripped GeoTIFF, not meant to be a COG).
SMART's JSON and the CSVs have no reader of their own to run here."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import cv2
import numpy as np
import piexif
import pytest
from click.testing import CliRunner
from own_readers import (
    gdalinfo,
    needs_cog_validator,
    needs_gdal,
    needs_gpkg_validator,
    ogr_layers,
    ogrinfo,
    validate_cog,
    validate_gpkg,
)
from qgc_plan_rules import plan_problems
from rfc7946 import rfc7946_problems

from uav.cli import cli

PARK = (130.5, 42.5, 132.0, 43.6)   # lon0, lat0, lon1, lat1 around the demo's sector


def _uav(*args) -> str:
    r = CliRunner().invoke(cli, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """One quick demo: plan, fly on the built-in copter, process, export."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    _uav("demo", "--out", out, "--quick", "--backend", "builtin", "--speedup", "80", "--workers", "2")
    return out


# --- the flight GeoPackage ------------------------------------------------------------------------
@pytest.mark.slow
@needs_gpkg_validator
@needs_gdal
def test_demo_flight_geopackage_passes_gdal_validator_and_opens_in_ogrinfo(demo):
    gpkg = demo / "flight.gpkg"
    verdict = validate_gpkg(gpkg)
    assert verdict.ok and verdict.output == "", verdict
    layers = ogr_layers(gpkg)
    assert layers["frames"]["geometry"] == "Polygon" and layers["frames"]["features"] > 0
    assert layers["flags"]["geometry"] == "Point" and layers["sightings"]["geometry"] == "Point"
    assert layers["track"]["geometry"] == "Line String"
    for table in ("decisions", "flight_meta", "frame_searches", "sighting_decisions"):
        assert layers[table]["geometry"] == "None", table
    assert layers["flight_meta"]["features"] >= 2
    # a decision taken in the review page keeps it valid
    from processing.store import FlightDB
    db = FlightDB(gpkg)
    try:
        with db.connect() as con:
            flag = con.execute("SELECT min(fid) FROM flags").fetchone()[0]
        db.decide(flag, "confirmed", "checked", "Ivanova", None)
    finally:
        db.close()
    assert validate_gpkg(gpkg).ok


# --- exports --------------------------------------------------------------------------------------
@pytest.mark.slow
@needs_gdal
def test_demo_geojson_files_open_in_gdal_and_keep_rfc7946(demo):
    for name in ("sightings.geojson", "flags.geojson", "track.geojson"):
        path = demo / name
        verdict = ogrinfo(path, "-so", "-al")
        assert verdict.ok and "ERROR" not in verdict.output, verdict
        doc = json.loads(path.read_text())
        assert doc["features"], name
        assert rfc7946_problems(doc, PARK) == [], name


@pytest.mark.slow
@needs_gdal
def test_demo_kml_and_a_kmz_export_open_in_both_gdal_kml_drivers(demo, tmp_path):
    kmz = tmp_path / "sightings.kmz"
    _uav("export", demo / "flight.gpkg", "--to", "kmz", "--status", "all", "-o", kmz)
    sightings = len(json.loads((demo / "sightings.geojson").read_text())["features"])
    for driver, path in (("KML", demo / "sightings.kml"), ("LIBKML", demo / "sightings.kml"),
                         ("LIBKML", kmz), ("KML", f"/vsizip/{kmz}/doc.kml")):
        verdict = ogrinfo(path, "-so", "-al", driver=driver)
        assert verdict.ok and "ERROR" not in verdict.output, verdict
        assert f"using driver `{driver}' successful" in verdict.output, verdict
    assert sum(v["features"] for v in ogr_layers(demo / "sightings.kml").values()) == sightings
    # read back as points in lon/lat order: every one inside the park
    points = [line.split("(")[1].split()[:2] for line in ogrinfo(demo / "sightings.kml", "-al").output.splitlines()
              if line.strip().startswith("POINT")]
    assert len(points) == sightings
    assert all(PARK[0] < float(x) < PARK[2] and PARK[1] < float(y) < PARK[3] for x, y in points)


@pytest.mark.slow
def test_demo_plan_loads_whole_by_qgroundcontrols_rules(demo):
    assert plan_problems(demo / "demo.plan") == []


# --- rasters: per-frame GeoTIFFs and the quick-look mosaic ----------------------------------------
def _dms(v):
    d, m = int(v), int((v - int(v)) * 60)
    return ((d, 1), (m, 1), (int(round((v - d - m / 60) * 3600 * 10000)), 10000))


def _frame(path: Path, lat: float, lon: float) -> None:
    """A 1600x1200 nadir JPEG, 50 m up (35 mm-equivalent focal 36 mm), with EXIF GPS and DJI XMP."""
    rng = np.random.default_rng(int(lat * 1e5) % 1000)
    img = rng.integers(40, 120, (1200, 1600, 3), dtype=np.uint8)
    cv2.rectangle(img, (700, 500), (760, 530), (0, 0, 255), -1)
    data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    exif = piexif.dump({"0th": {piexif.ImageIFD.Model: b"T1"},
                        "Exif": {piexif.ExifIFD.FocalLengthIn35mmFilm: 36,
                                 piexif.ExifIFD.DateTimeOriginal: b"2024:05:01 10:00:00"},
                        "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: _dms(lat),
                                piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: _dms(lon),
                                piexif.GPSIFD.GPSAltitude: (250, 1)}})
    xmp = (b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF "
           b"xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"><rdf:Description "
           b"xmlns:drone-dji=\"http://www.dji.com/drone-dji/1.0/\" drone-dji:RelativeAltitude=\"50\" "
           b"drone-dji:GimbalYawDegree=\"0\" drone-dji:GimbalPitchDegree=\"-90\"/></rdf:RDF></x:xmpmeta>")
    segs = b"".join(b"\xff\xe1" + struct.pack(">H", len(b) + 2) + b for b in (exif, xmp))
    path.write_bytes(data[:2] + segs + data[2:])


@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> Path:
    """Three posed frames processed with --geotiff: FLIGHT.gpkg and FLIGHT_geotiff/."""
    root = tmp_path_factory.mktemp("geotiff")
    frames = root / "DCIM"
    frames.mkdir()
    for i in range(3):
        _frame(frames / f"DJI_{i:04d}.JPG", 43.1 + i * 2e-4, 131.25)
    _uav("process", frames, "--out", root / "flight.gpkg", "--geotiff", "--workers", 0, "--quiet")
    return root


@needs_gdal
@needs_cog_validator
def test_frame_geotiffs_open_in_gdalinfo_and_pass_the_cog_validator(processed):
    tifs = sorted((processed / "flight_geotiff").glob("*.tif"))
    assert len(tifs) == 3
    for tif in tifs:
        info = gdalinfo(tif)
        assert info["driverShortName"] == "GTiff"
        assert 'ID["EPSG",32652]' in info["coordinateSystem"]["wkt"]        # UTM 52N, the park's zone
        assert [b["noDataValue"] for b in info["bands"]] == [0, 0, 0]
        assert [b["colorInterpretation"] for b in info["bands"]] == ["Red", "Green", "Blue"]
        assert info["bands"][0]["block"] == [256, 256]
        assert info["bands"][0]["maximum"] > 0                              # pixels, not all nodata
        (x0, y0), (x1, y1) = info["cornerCoordinates"]["upperLeft"], info["cornerCoordinates"]["lowerRight"]
        assert 40 < x1 - x0 < 70 and 30 < y0 - y1 < 55                     # about the 50 x 37.5 m footprint
        verdict = validate_cog(tif)
        assert verdict.ok and "is a valid cloud optimized GeoTIFF" in verdict.output, verdict
        # the one remark: no internal overviews (a frame is at most 4096 px; QGIS reads it whole)
        assert "ERROR" not in verdict.output


@needs_gdal
def test_quicklook_mosaic_geotiff_opens_in_gdalinfo(processed, tmp_path):
    from processing import quicklook

    info = quicklook(processed / "flight.gpkg", tmp_path / "ql.png", tmp_path / "ql.tif", max_px=800)
    assert info["frames"] == 3
    gi = gdalinfo(tmp_path / "ql.tif")
    assert gi["driverShortName"] == "GTiff" and len(gi["bands"]) == 3
    assert 'ID["EPSG",32652]' in gi["coordinateSystem"]["wkt"]
    assert max(gi["size"]) <= 801 and gi["bands"][0]["maximum"] > 0


@needs_gpkg_validator
def test_a_registered_flight_with_every_optional_table_passes_gdal_validator(processed, tmp_path):
    import sqlite3

    from processing.pipeline import process_frames

    out = tmp_path / "registered.gpkg"
    frames = sorted(str(p) for p in (processed / "DCIM").glob("*.JPG"))
    process_frames(frames, out, detectors=("vehicle",), workers=0, progress=False, register=True)
    con = sqlite3.connect(out)
    tables = {r[0] for r in con.execute("SELECT table_name FROM gpkg_contents")}
    rows = con.execute("SELECT count(*) FROM frame_registration").fetchone()[0]
    con.close()
    assert {"sightings", "frame_searches", "frame_registration"} <= tables and rows == 3
    verdict = validate_gpkg(out)
    assert verdict.ok and verdict.output == "", verdict
