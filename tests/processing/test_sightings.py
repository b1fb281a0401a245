"""Grouping flags into sightings: static objects over many frames, a vehicle driving between
frames, flags without a map position; multi-view consensus; resume and watch keep decisions."""

from __future__ import annotations

import math
import sqlite3

import numpy as np
import pytest
import shapely

from processing.look import look_of, look_similarity
from processing.sightings import FlagTable, FrameCover, group_flags, position_uncertainty_m
from processing.store import FlagRecord, FlightStore, FrameRecord
from processing.store.sightings import decide_sighting, update_sightings
from uav.errors import InvalidInputError, ReviewConflictError

LAT0, LON0 = 43.10, 131.24
T0 = 1_713_400_000.0


def _ll(east, north):
    return (LON0 + east / (111320.0 * math.cos(math.radians(LAT0))), LAT0 + north / 110574.0)


def _look(bgr):
    """The look (processing.look) of a plain box of this colour with a dark edge."""
    img = np.zeros((20, 30, 3), np.uint8)
    img[:] = (40, 40, 40)
    img[3:17, 3:27] = bgr
    return look_of(img, 0, 0, 30, 20)


SILVER, GREEN = _look((190, 180, 175)), _look((60, 140, 40))


def _table(rows):
    """rows: (cls, east, north, t, frame, score[, height[, look]]) -> FlagTable (None east = no
    position); flags look alike (silver) unless a look is given."""
    out = []
    for k, r in enumerate(rows):
        cls, e, n, t, frame, score = r[:6]
        h = r[6] if len(r) > 6 else 60.0
        look = r[7] if len(r) > 7 else SILVER
        lon, lat = _ll(e, n) if e is not None else (None, None)
        out.append((k + 1, frame, cls, score, lon, lat, T0 + t, h, 0.0, 0.02, look, 4.5))
    return FlagTable.from_rows(out)


def _square(east, north, half=60.0):
    pts = [_ll(east + dx, north + dy) for dx, dy in ((-half, half), (half, half), (half, -half), (-half, -half))]
    return shapely.Polygon(pts)


def test_static_objects_over_many_frames():
    rng = np.random.default_rng(3)
    rows = []
    # a fire seen in 8 frames, scattered by ~3 m of georeferencing error; a smoke plume whose
    # box centres wander 25 m along it; a second fire 40 m from the first stays separate
    for f in range(8):
        rows.append(("fire", 0 + rng.normal(0, 2), 0 + rng.normal(0, 2), 2.0 * f, f, 0.8))
        rows.append(("smoke", 100 + 3 * f, 50 + rng.normal(0, 3), 2.0 * f, f, 0.6))
    for f in range(4, 8):
        rows.append(("fire", 40 + rng.normal(0, 2), 0, 2.0 * f, f, 0.7))
    # the first fire again on a later survey line, ten minutes on: still the same object
    rows.append(("fire", 1.0, -1.0, 600.0, 30, 0.75))
    g = group_flags(_table(rows))
    by = {}
    for s in g.sightings:
        by.setdefault(s.cls, []).append(s)
    assert len(by["fire"]) == 2 and len(by["smoke"]) == 1
    big = max(by["fire"], key=lambda s: s.frames_flagged)
    assert big.frames_flagged == 9 and len(big.flag_fids) == 9
    lon, lat = _ll(0, 0)
    assert abs(big.lon - lon) * 81000 < 2.0 and abs(big.lat - lat) * 110574 < 2.0
    assert by["smoke"][0].frames_flagged == 8
    assert not big.moving
    # every flag has exactly one sighting, and its label points at it
    assert sorted(f for s in g.sightings for f in s.flag_fids) == list(range(1, len(rows) + 1))
    for k, s in enumerate(g.sightings):
        assert set(np.nonzero(g.label == k)[0] + 1) == set(s.flag_fids)


def test_moving_vehicle_is_one_sighting_two_parked_cars_two():
    rows = []
    # a car driving east at 12 m/s, photographed every 2 s: 24 m between flags
    for f in range(6):
        rows.append(("vehicle", 24.0 * f, 0.0, 2.0 * f, f, 0.8))
    # two parked cars 7 m apart, both in the same three frames
    for f in range(10, 13):
        rows.append(("vehicle", 500.0, 300.0, 2.0 * f, f, 0.9))
        rows.append(("vehicle", 507.0, 300.0, 2.0 * f, f, 0.85))
    # a car 200 m further down the road 2 s later could not have got there: another vehicle
    rows.append(("vehicle", 24.0 * 5 + 200.0, 0.0, 12.0, 6, 0.7))
    g = group_flags(_table(rows))
    vs = sorted(g.sightings, key=lambda s: min(s.flag_fids))
    assert [len(s.flag_fids) for s in vs] == [6, 3, 3, 1]
    assert vs[0].moving and vs[0].spread_m > 50
    assert not vs[1].moving and not vs[2].moving
    # fire does not move: the same 24 m steps make six fire sightings
    fires = group_flags(_table([("fire", 24.0 * f, 0.0, 2.0 * f, f, 0.8) for f in range(6)]))
    assert len(fires.sightings) == 6


def test_a_mover_is_chained_only_to_flags_that_look_like_it():
    # A silver car in three photos 7 s apart, then in the next photo, 40 m away (reachable at
    # 6 m/s), a green box the same size: position and speed allow it, the look does not.
    assert look_similarity(SILVER, GREEN) < 0.55 <= look_similarity(SILVER, SILVER)
    rows = [("vehicle", 0.0, 0.0, 7.0 * f, f, 0.8) for f in range(3)]
    rows.append(("vehicle", 40.0, 0.0, 21.0, 3, 0.7, 60.0, GREEN))
    vs = sorted(group_flags(_table(rows)).sightings, key=lambda s: min(s.flag_fids))
    assert [len(s.flag_fids) for s in vs] == [3, 1]
    # the same green flag looking silver would have been followed: the look decided it
    rows[-1] = ("vehicle", 40.0, 0.0, 21.0, 3, 0.7, 60.0, SILVER)
    assert len(group_flags(_table(rows)).sightings) == 1
    # a flag whose look is unknown (a file from before looks) is not chained on position alone
    rows[-1] = ("vehicle", 40.0, 0.0, 21.0, 3, 0.7, 60.0, None)
    assert len(group_flags(_table(rows)).sightings) == 2


def test_flags_without_position_are_sightings_of_their_own():
    rows = [("fire", None, None, 0.0, 1, 0.9), ("fire", None, None, 2.0, 2, 0.8), ("fire", 0.0, 0.0, 4.0, 3, 0.7)]
    g = group_flags(_table(rows))
    assert len(g.sightings) == 3
    lone = [s for s in g.sightings if not s.positioned]
    assert len(lone) == 2 and all(s.lon is None and len(s.flag_fids) == 1 for s in lone)
    assert [s for s in g.sightings if s.positioned][0].flag_fids == [3]


def test_consensus_seven_of_eight_outranks_one_of_eight():
    frames = FrameCover(fid=np.arange(8), footprint=np.array([_square(0, 0) for _ in range(8)], object),
                        thermal=np.zeros(8, bool))
    rows = [("fire", 0.0, 0.0, 2.0 * f, f, 0.6) for f in range(7)]       # 7 of 8, modest scores
    rows.append(("smoke", 20.0, 20.0, 0.0, 3, 0.95))                       # 1 of 8, confident
    g = group_flags(_table(rows), frames)
    fire, smoke = g.sightings
    assert (fire.cls, fire.frames_flagged, fire.frames_covering) == ("fire", 7, 8)
    assert (smoke.cls, smoke.frames_flagged, smoke.frames_covering) == ("smoke", 1, 8)
    assert fire.score > smoke.score and fire.likely and not smoke.likely
    # thermal frames do not count as having looked for smoke
    frames.thermal[:] = True
    again = {s.cls: s for s in group_flags(_table(rows), frames).sightings}
    assert again["smoke"].frames_covering == 1 and again["fire"].frames_covering == 7


def test_two_far_views_of_one_plume_are_one_sighting_by_their_measured_uncertainty():
    """A plume on a far ridge seen from two legs of a lookout orbit lands 300 m apart in the two
    views, each good to a few hundred metres (measured through the camera model): one sighting.
    Without the measured uncertainty (flags placed before it) they stay two, as before; two
    vehicles that far off stay two whatever their uncertainty."""
    from dataclasses import replace

    rows = [("smoke", 0.0, 0.0, 0, 1, 0.6, 120.0), ("smoke", 300.0, 40.0, 30, 2, 0.5, 120.0),
            ("vehicle", 0.0, 500.0, 0, 1, 0.7, 120.0), ("vehicle", 60.0, 500.0, 30, 2, 0.7, 120.0),
            ("fire", 0.0, -800.0, 0, 1, 0.8, 120.0), ("fire", 9.0, -800.0, 30, 2, 0.8, 120.0)]
    table = _table(rows)
    assert sorted(s.cls for s in group_flags(table).sightings) == ["fire", "smoke", "smoke", "vehicle", "vehicle"]
    far = replace(table, uncertainty_m=np.array([350.0, 240.0, 80.0, 80.0, 3.0, 3.0]))
    got = group_flags(far).sightings
    assert sorted(s.cls for s in got) == ["fire", "smoke", "vehicle", "vehicle"]
    plume = next(s for s in got if s.cls == "smoke")
    assert len(plume.flag_fids) == 2 and plume.uncertainty_m == 240.0
    # the nearer view (smaller uncertainty) weighs more in where the plume is said to be
    east = (plume.lon - LON0) * 111320.0 * math.cos(math.radians(LAT0))
    assert 150 < east < 300
    # a small measured uncertainty never pulls apart what the fixed estimate links
    fire = next(s for s in got if s.cls == "fire")
    assert len(fire.flag_fids) == 2


def test_uncertainty_grows_with_height_and_tilt():
    u = position_uncertainty_m(np.array([40.0, 120.0, 120.0, np.nan]), np.array([0.0, 0.0, 45.0, 0.0]),
                               np.array([0.01, 0.03, 0.03, np.nan]))
    assert u[0] < u[1] < u[2] and 2.0 < u[0] < 3.0
    with pytest.raises(InvalidInputError, match="entries"):
        FlagTable(fid=np.arange(2), frame_fid=np.arange(1), cls=np.array(["a", "b"], object),
                  score=np.zeros(2), lon=np.zeros(2), lat=np.zeros(2), time_s=np.zeros(2),
                  height_m=np.zeros(2), off_nadir_deg=np.zeros(2), gsd_m=np.zeros(2))


# --- the GeoPackage: resume, decisions, alerts ---------------------------------------------------
def _add_frame(store, k, flags):
    lon, lat = _ll(10.0 * k, 0.0)
    rec = FrameRecord(path=f"/data/f{k:03d}.jpg", sha256=f"{k:064x}", time=f"2024-04-18T03:10:{k:02d}Z",
                      lat=lat, lon=lon, alt_rel=60.0, pitch=-90.0, gsd_m=0.02, status="done",
                      footprint=_square(10.0 * k, 0.0))
    recs = []
    for cls, e, n, score in flags:
        lo, la = _ll(e, n)
        recs.append(FlagRecord(cls=cls, score=score, px_x0=100 + e, px_y0=100, px_x1=120 + e, px_y1=120,
                               lat=la, lon=lo))
    return store.add_frame_result(rec, recs)


def _sightings(gpkg):
    con = sqlite3.connect(gpkg)
    try:
        return {r[0]: r[1:] for r in con.execute(
            "SELECT fid, class, status, note, reviewer, frames_flagged, uid, unreviewed_flags FROM sightings")}
    finally:
        con.close()


def test_resume_keeps_decisions_and_ids(tmp_path):
    gpkg = tmp_path / "f.gpkg"
    with FlightStore(gpkg) as store:
        for k in range(3):
            _add_frame(store, k, [("fire", 0.0, 0.0, 0.8), ("vehicle", 30.0, 5.0, 0.7)])
        first = update_sightings(store)
    assert first.total == 2 and [a.kind for a in first.alerts] == ["new", "new"]
    before = _sightings(gpkg)
    fire = next(f for f, v in before.items() if v[0] == "fire")
    car = next(f for f, v in before.items() if v[0] == "vehicle")
    with FlightStore.open(gpkg) as store:
        decide_sighting(store, fire, "confirmed", "crown fire", "Ivanova", 0)
        decide_sighting(store, car, "rejected", "a rock", "Ivanova", 0)
        with pytest.raises(ReviewConflictError, match="changed by someone else"):
            decide_sighting(store, car, "confirmed", None, "Petrov", 0)
        # resume: more frames see the same fire, the car, and a new smoke
        for k in range(3, 6):
            _add_frame(store, k, [("fire", 0.5, -0.5, 0.75), ("vehicle", 30.0, 5.0, 0.7), ("smoke", 200.0, 0.0, 0.6)])
        again = update_sightings(store)
        assert update_sightings(store).alerts == []    # nothing new: nothing announced
    after = _sightings(gpkg)
    assert after[fire][:4] == ("fire", "confirmed", "crown fire", "Ivanova")
    assert after[fire][4] == 6 and after[fire][5] == before[fire][5]   # same uid, more frames
    assert after[fire][6] == 3                                         # 3 flags arrived since
    assert after[car][:3] == ("vehicle", "rejected", "a rock")
    assert [(a.kind, a.cls) for a in again.alerts if a.kind == "new"] == [("new", "smoke")]
    # the old flags keep their decisions; the decision history is all there
    con = sqlite3.connect(gpkg)
    statuses = dict(con.execute("SELECT fid, status FROM flags WHERE sighting_id = ?", (fire,)).fetchall())
    hist = con.execute("SELECT sighting_fid, status FROM sighting_decisions ORDER BY id").fetchall()
    con.close()
    assert sorted(statuses.values()) == ["confirmed"] * 3 + ["new"] * 3
    assert hist == [(fire, "confirmed"), (car, "rejected")]
    # the layer opens in GIS software as a point layer
    import pyogrio

    info = pyogrio.read_info(gpkg, layer="sightings")
    assert info["geometry_type"] == "Point" and info["features"] == 3
    assert {"class", "score", "frames_flagged", "frames_covering", "first_time", "last_time", "status",
            "note", "reviewer"} <= set(info["fields"])


def test_bridging_flag_merges_disagreeing_decisions_into_uncertain(tmp_path):
    gpkg = tmp_path / "m.gpkg"
    with FlightStore(gpkg) as store:
        _add_frame(store, 0, [("fire", 0.0, 0.0, 0.8)])
        _add_frame(store, 1, [("fire", 30.0, 0.0, 0.8)])
        update_sightings(store)
        a, b = sorted(_sightings(gpkg))
        decide_sighting(store, a, "confirmed", None, "Ivanova", 0)
        decide_sighting(store, b, "rejected", None, "Petrov", 0)
        # fires spread: flags between them now join the two into one
        _add_frame(store, 2, [("fire", 10.0, 0.0, 0.8), ("fire", 20.0, 0.0, 0.8)])
        update_sightings(store)
    after = _sightings(gpkg)
    assert len(after) == 1
    (status, note) = next(iter(after.values()))[1:3]
    assert status == "uncertain" and "merged with sighting" in note and "rejected" in note


def test_watch_announces_a_sighting_once(tmp_path):
    from processing.store.sightings import SightingAlert

    gpkg = tmp_path / "w.gpkg"
    with FlightStore(gpkg) as store:
        _add_frame(store, 0, [("fire", 0.0, 0.0, 0.9)])
        r1 = update_sightings(store)
        _add_frame(store, 1, [("fire", 0.0, 0.0, 0.9)])
        r2 = update_sightings(store)    # a second view lifts the score a little: no news
        for k in range(2, 5):
            _add_frame(store, k, [])
        r3 = update_sightings(store)    # frames over it that did not flag it: the score drops
    assert [str(a).split(" at ")[0] for a in r1.alerts] == ["SIGHTING #1 fire 0.73"]
    assert r2.alerts == []
    assert len(r3.alerts) == 1 and r3.alerts[0].kind == "changed"
    assert isinstance(r3.alerts[0], SightingAlert) and "(was " in str(r3.alerts[0])


def test_watch_folder_prints_each_sighting_once(tmp_path):
    """Frames arrive one by one, each showing the same vehicle: the watch announces it once,
    not once per photo."""
    import threading
    import time

    from test_pipeline import LAT, LON, RedBox, frame

    from processing.watch import watch_folder

    folder = tmp_path / "card"
    folder.mkdir()
    frame(folder / "f00.jpg", LAT, LON)
    lines, seen = [], []
    deadline = time.monotonic() + 60

    def card_reader():
        for k in range(1, 4):
            while len(seen) < k and time.monotonic() < deadline:
                time.sleep(0.05)
            frame(folder / f"f{k:02d}.jpg", LAT + k * 1e-5, LON)

    t = threading.Thread(target=card_reader)
    t.start()
    s = watch_folder(folder, tmp_path / "w.gpkg", poll_s=0.1, settle_s=0.2, flag_lines=False,
                     stop=lambda: len(seen) >= 4 or time.monotonic() > deadline, echo=lines.append,
                     on_flag=lambda f, fr: seen.append(fr.name), detectors=[RedBox()], workers=0)
    t.join()
    assert seen == ["f00.jpg", "f01.jpg", "f02.jpg", "f03.jpg"]
    assert not any(line.startswith("FLAG") for line in lines)
    announced = [line for line in lines if line.startswith("SIGHTING")]
    assert len(announced) == 1 and announced[0].startswith("SIGHTING #1 vehicle"), lines
    assert s.sightings.total == 1 and s.done == 4
    with FlightStore.open(tmp_path / "w.gpkg") as st:
        assert {f.sighting_id for f in st.flags()} == {1}


def test_two_alike_boxes_in_one_frame_get_their_own_ids(tmp_path):
    gpkg = tmp_path / "twin.gpkg"
    with FlightStore(gpkg) as store:
        # same class, same pixel box (rounded), far apart on the ground: two objects
        _add_frame(store, 0, [("fire", 0.0, 0.0, 0.8), ("fire", 0.0, 0.0, 0.7)])
        con = store._con
        con.execute("UPDATE flags SET lon = lon + 0.01 WHERE fid = 2")
        first = update_sightings(store)
        again = update_sightings(store)
    rows = _sightings(gpkg)
    assert first.total == 2 and again.alerts == [] and len({v[5] for v in rows.values()}) == 2
