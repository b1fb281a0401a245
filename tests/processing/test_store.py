"""The flight GeoPackage: schema, transactions, review versions, readable by GDAL (pyogrio)."""

from __future__ import annotations

import sqlite3
import struct

import pyogrio
import pytest
import shapely

from processing.store import (
    FlagRecord,
    FlightStore,
    FrameRecord,
    gpkg_geometry,
    parse_gpkg_geometry,
)
from uav.errors import FlightStoreError, InvalidInputError, ReviewConflictError

FOOT = shapely.Polygon([(-91.995, 46.842), (-91.994, 46.842), (-91.994, 46.843), (-91.995, 46.843)])


def _frame(tmp_path, name="a.jpg", **kw):
    return FrameRecord(path=str(tmp_path / name), sha256="ab" * 32, lat=46.8425, lon=-91.9945,
                       alt_amsl=230.0, alt_rel=40.0, yaw=10.0, pitch=-90.0, roll=0.0,
                       pose_source="xmp", gsd_m=0.017, width=4000, height=2250,
                       footprint=FOOT, **kw)


def _flag(**kw):
    base = dict(cls="smoke", score=0.8, px_x0=10, px_y0=20, px_x1=110, px_y1=220,
                detector="test", lat=46.8426, lon=-91.9946, ground_size_m=3.5, size_ok=True)
    base.update(kw)
    return FlagRecord(**base)


def test_geometry_blob_roundtrip_and_header():
    blob = gpkg_geometry(FOOT)
    assert blob[:2] == b"GP" and blob[2] == 0
    flags = blob[3]
    assert flags & 1 == 1 and (flags >> 1) & 7 == 1  # little endian, XY envelope
    assert struct.unpack("<i", blob[4:8])[0] == 4326
    minx, maxx, miny, maxy = struct.unpack("<4d", blob[8:40])
    assert (minx, miny, maxx, maxy) == FOOT.bounds
    assert parse_gpkg_geometry(blob).equals(FOOT)
    pt = gpkg_geometry(shapely.Point(1.5, 2.5))
    assert (pt[3] >> 1) & 7 == 0 and len(pt) == 8 + 21
    assert parse_gpkg_geometry(pt).equals(shapely.Point(1.5, 2.5))
    with pytest.raises(FlightStoreError, match="not a GeoPackage geometry"):
        parse_gpkg_geometry(b"XX\x00\x01\x00\x00\x00\x00")


def test_write_and_read_back_with_sqlite_and_pyogrio(tmp_path):
    gpkg = tmp_path / "flight.gpkg"
    with FlightStore(gpkg) as store:
        fid = store.add_frame_result(_frame(tmp_path), [_flag(), _flag(cls="fire", score=0.6)])
        nopose = FrameRecord(path=str(tmp_path / "b.jpg"), status="no_pose", width=100, height=80)
        fid2 = store.add_frame_result(nopose, [_flag(lat=None, lon=None,
                                                     position_note="frame has no GPS")])
        store.add_frame_result(FrameRecord(path=str(tmp_path / "c.jpg"), status="failed",
                                           error="corrupt JPEG"), [])
        store.add_track([(-91.995, 46.842), (-91.994, 46.843)], source="exif")
        store.set_meta("detectors", "smoke,fire")
    con = sqlite3.connect(gpkg)
    assert con.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
    assert con.execute("PRAGMA user_version").fetchone()[0] == 10200
    assert con.execute("SELECT count(*) FROM frames").fetchone()[0] == 3
    assert con.execute("SELECT class FROM flags ORDER BY fid").fetchall() == [("smoke",), ("fire",), ("smoke",)]
    gcols = dict(con.execute("SELECT table_name, geometry_type_name FROM gpkg_geometry_columns"))
    assert gcols == {"frames": "POLYGON", "flags": "POINT", "track": "LINESTRING"}
    ext = con.execute("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name='frames'").fetchone()
    assert ext == pytest.approx(FOOT.bounds)
    con.close()

    layers = {row[0] for row in pyogrio.list_layers(gpkg)}
    assert {"frames", "flags", "track"} <= layers
    info = pyogrio.read_info(gpkg, layer="flags")
    assert info["crs"] == "EPSG:4326" and info["geometry_type"] == "Point" and info["features"] == 3
    meta, fids, geoms, attrs = pyogrio.raw.read(gpkg, layer="frames", return_fids=True)
    assert list(fids) == [fid, fid2, 3]
    assert shapely.from_wkb(geoms[0]).equals(FOOT)
    assert geoms[1] is None
    cols = list(meta["fields"])
    assert attrs[cols.index("status")].tolist() == ["done", "no_pose", "failed"]
    assert attrs[cols.index("sha256")][0] == "ab" * 32
    meta, geoms, attrs = pyogrio.raw.read(gpkg, layer="flags")[0], *pyogrio.raw.read(gpkg, layer="flags")[2:]
    pt = shapely.from_wkb(geoms[0])
    assert (pt.x, pt.y) == (-91.9946, 46.8426)
    assert geoms[2] is None


def test_reopen_resume_and_retry_failed(tmp_path):
    gpkg = tmp_path / "flight.gpkg"
    with FlightStore.create(gpkg) as store:
        store.add_frame_result(_frame(tmp_path), [_flag()])
        store.add_frame_result(FrameRecord(path=str(tmp_path / "bad.jpg"), status="failed",
                                           error="corrupt"), [])
    with pytest.raises(FlightStoreError, match="already exists"):
        FlightStore.create(gpkg)
    with FlightStore.open(gpkg) as store:
        assert store.frame_done(tmp_path / "a.jpg")
        assert not store.frame_done(tmp_path / "bad.jpg")  # failed frames are retried
        assert not store.frame_done(tmp_path / "never.jpg")
        assert store.done_paths() == {str(tmp_path / "a.jpg")}
        # retrying the failed one replaces its row, keeps its fid
        fid = store.add_frame_result(_frame(tmp_path, "bad.jpg"), [_flag(cls="vehicle")])
        assert fid == 2
        frames = store.frames()
        assert [f.status for f in frames] == ["done", "done"]
        assert frames[0].footprint.equals(FOOT) and frames[0].pose_source == "xmp"
        assert store.flag_counts() == {"smoke": 1, "vehicle": 1}
        assert [f.cls for f in store.flags(frame_fid=2)] == ["vehicle"]
        assert store.meta["created_by"] == "amur-uav"


def test_transaction_is_all_or_nothing(tmp_path):
    with FlightStore(tmp_path / "f.gpkg") as store:
        with pytest.raises(InvalidInputError, match="flag status"):
            store.add_frame_result(_frame(tmp_path), [_flag(), _flag(status="maybe")])
        assert store.frames() == [] and store.flags() == []
        with pytest.raises(InvalidInputError, match="frame status"):
            store.add_frame_result(_frame(tmp_path, status="odd"), [])


def test_decisions_versions_and_conflict(tmp_path):
    gpkg = tmp_path / "f.gpkg"
    with FlightStore(gpkg) as store:
        store.add_frame_result(_frame(tmp_path), [_flag()])
        flag = store.flags()[0]
        assert flag.version == 0 and flag.status == "new" and flag.size_ok is True
        v1 = store.set_decision(flag.fid, "confirmed", "smoke over the ridge", "ana", expected_version=0)
        assert v1 == 1
        # a second tab that still sees version 0 is refused, and nothing changes
        with FlightStore.open(gpkg) as other:
            with pytest.raises(ReviewConflictError, match="changed by someone else"):
                other.set_decision(flag.fid, "rejected", None, "bob", expected_version=0)
        got = store.flag(flag.fid)
        assert (got.status, got.note, got.reviewer, got.version) == ("confirmed", "smoke over the ridge", "ana", 1)
        assert store.set_decision(flag.fid, "rejected", "glare", "bob", expected_version=1) == 2
        hist = store.decisions(flag.fid)
        assert [(d.status, d.reviewer) for d in hist] == [("confirmed", "ana"), ("rejected", "bob")]
        assert [f.fid for f in store.flags(status="rejected", cls="smoke")] == [flag.fid]
        assert store.flags(status="confirmed") == []
        with pytest.raises(InvalidInputError, match="must be one of"):
            store.set_decision(flag.fid, "maybe")
        with pytest.raises(FlightStoreError, match="no flag 99"):
            store.set_decision(99, "confirmed")


def test_bad_files_are_refused(tmp_path):
    with pytest.raises(FlightStoreError, match="no flight GeoPackage"):
        FlightStore.open(tmp_path / "missing.gpkg")
    junk = tmp_path / "junk.gpkg"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(FlightStoreError, match="not a usable flight GeoPackage"):
        FlightStore(junk)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE x (a)").connection.close()
    with pytest.raises(FlightStoreError, match="not a flight GeoPackage"):
        FlightStore(other)
    with pytest.raises(FlightStoreError, match="does not exist"):
        FlightStore(tmp_path / "nofolder" / "f.gpkg")
    with FlightStore(tmp_path / "t.gpkg") as store:
        with pytest.raises(InvalidInputError, match="at least 2"):
            store.add_track([(0, 0)])
