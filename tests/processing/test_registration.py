"""Frame registration: ties between overlapping frames, the joint solve, what the GeoPackage shows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from processing.georef import georeference_frame
from processing.poses import Intrinsics, Pose
from processing.registration import adjusted_pose, solve_registration
from processing.ties import Tie

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
INTR = Intrinsics(focal_px=1000.0, cx=499.5, cy=374.5, width=1000, height=750)


def _ties_from_truth(true_cams, a, b, n=60, seed=0):
    """Pixels of frame a, their ground through the true camera, seen again by frame b."""
    rng = np.random.default_rng(seed)
    uv = rng.uniform([100, 100], [900, 650], (n, 2))
    P = true_cams[a].pixel_to_world(uv[:, 0], uv[:, 1])
    u, v, _ = true_cams[b].world_to_pixel(P)
    ok = (u > 0) & (u < 999) & (v > 0) & (v < 749)
    return Tie(a, b, uv[ok], np.stack([u, v], -1)[ok], int(ok.sum()))


def test_solve_brings_overlapping_frames_together_and_leaves_a_lonely_frame_alone():
    # three frames along a line, 20 m apart at 50 m; the "GPS" of each is off by metres and degrees
    truth = [Pose(lat=46.84, lon=-91.99 + k * 0.00026, alt_amsl=250.0, alt_rel=50.0, yaw=90.0)
             for k in range(3)] + [Pose(lat=46.85, lon=-91.99, alt_amsl=250.0, alt_rel=50.0, yaw=0.0)]
    true_cams = [georeference_frame(p, INTR).camera for p in truth]
    errs = [(2.0, -1.5, 3.0), (-1.0, 2.0, -2.0), (1.5, 1.0, 2.5), (3.0, 3.0, 4.0)]
    direct = [Pose(lat=p.lat + dn / 111_000, lon=p.lon + de / 76_000, alt_amsl=p.alt_amsl,
                   alt_rel=p.alt_rel, yaw=p.yaw + dyaw) for p, (de, dn, dyaw) in zip(truth, errs, strict=True)]
    cams = [georeference_frame(p, INTR).camera for p in direct]
    ties = [_ties_from_truth(true_cams, 0, 1), _ties_from_truth(true_cams, 1, 2, seed=1),
            _ties_from_truth(true_cams, 0, 2, seed=2)]
    ties = [t for t in ties if len(t.uv_a) >= 10]   # 0 and 2 barely overlap
    reg = solve_registration(cams, ties)
    assert reg.seam_before_m[0] > 1.0
    assert reg.seam_after_m[0] < 0.05, reg.seam_after_m
    assert [f.status for f in reg.frames] == ["registered"] * 3 + ["direct"]
    assert reg.frames[1].neighbours == 2 and reg.frames[3].neighbours == 0
    assert adjusted_pose(direct[3], cams[3], reg.frames[3]) == direct[3]
    # the solver's ground model is the camera model's: the same ties through the registered
    # poses (georeference_frame, as footprints and flags are placed) agree as well
    new = [georeference_frame(adjusted_pose(p, c, f), INTR).camera
           for p, c, f in zip(direct, cams, reg.frames, strict=True)]
    for t in ties:
        ga = new[t.a].pixel_to_world(t.uv_a[:, 0], t.uv_a[:, 1])[:, :2]
        gb = new[t.b].pixel_to_world(t.uv_b[:, 0], t.uv_b[:, 1])[:, :2]
        assert np.median(np.linalg.norm(ga - gb, axis=1)) < 0.05


def test_a_registered_tilt_is_the_solves_rotation_and_the_yaw_stays_the_heading():
    import math

    from processing.georef import _rx, _ry, _rz
    from processing.registration import FrameAdjustment

    pose = Pose(lat=46.84, lon=-91.99, alt_amsl=250.0, alt_rel=50.0, yaw=37.0)     # straight down
    cam = georeference_frame(pose, INTR).camera
    adj = FrameAdjustment(0, "registered", dyaw_deg=4.0, tilt_deg=(1.5, -2.0))
    new = adjusted_pose(pose, cam, adj)
    # the solve turns the rays by the tilt, then by the yaw correction (registration._Problem)
    solved = _rz(math.radians(-4.0)) @ _rx(math.radians(1.5)) @ _ry(math.radians(-2.0)) @ cam.R
    np.testing.assert_allclose(georeference_frame(new, INTR).camera.R, solved, atol=1e-12)
    # written as the gimbal's angles the yaw would swing far from the heading (gimbal lock)
    assert (new.pitch, new.roll) == (-90.0, 0.0) and new.yaw == pytest.approx(41.0, abs=0.1)
    assert np.hypot(*new.tilt) == pytest.approx(2.5, abs=0.01)


def test_no_ties_keeps_every_direct_georeference():
    cam = georeference_frame(Pose(lat=46.84, lon=-91.99, alt_amsl=250.0, alt_rel=50.0, yaw=0.0), INTR).camera
    reg = solve_registration([cam, None], [])
    assert reg.registered == 0 and all(f.status == "direct" for f in reg.frames)
    assert "direct georeference" in reg.note and "none of 2" in str(reg)


@pytest.mark.skipif(not (DATA / "brighton").exists(), reason="../shared/data/brighton not present")
def test_brighton_registered_flight_in_the_geopackage(tmp_path):
    from processing import process_frames
    from processing.frames import read_metadata
    from processing.poses import intrinsics_from_metadata
    from processing.registration import adjusted_intrinsics
    from processing.store import FlightStore, parse_gpkg_geometry

    # one flight line and the start of the next (the re-saved, pixel-rotated frames)
    paths = [str(DATA / "brighton" / f"DJI_00{k}.JPG") for k in range(20, 27)]
    out = tmp_path / "flight.gpkg"
    s = process_frames(paths, out, detectors=("vehicle",), workers=0, progress=False, register=True)
    assert s.done == len(paths)
    assert "registration:" in str(s) and s.registration.registered >= len(paths) - 1
    assert s.registration.seam_after_m[0] < 0.3 < s.registration.seam_before_m[0]
    con = sqlite3.connect(out)
    rows = con.execute("SELECT r.frame_fid, r.status, r.neighbours, r.residual_m, r.residual_before_m, "
                       "r.lat, r.lon, r.alt_amsl, r.alt_rel, r.yaw, r.lens_k1, r.direct_geom, f.geom, f.path, "
                       "f.pitch, f.roll, r.tilt_e_deg, r.tilt_n_deg, f.yaw "
                       "FROM frame_registration r JOIN frames f ON f.fid = r.frame_fid").fetchall()
    assert len(rows) == len(paths)
    # a GIS program sees the table
    assert con.execute("SELECT count(*) FROM gpkg_contents WHERE table_name='frame_registration'").fetchone()[0] == 1
    flags = con.execute("SELECT frame_fid, px_x0, px_y0, px_x1, px_y1, lon, lat FROM flags").fetchall()
    con.close()
    tilts = []
    for fid, status, nb, res, before, lat, lon, amsl, rel, yaw, k1, direct, geom, path, pitch, roll, te, tn, yaw0 in rows:
        if status != "registered":
            continue
        assert nb >= 1 and res < before
        # the registered camera's tilt (Priors.tilt_deg) is kept apart from its angles, so the
        # registered yaw is still the heading (a few degrees from the frame's own)
        tilts.append(np.hypot(te, tn))
        assert abs((yaw - yaw0 + 180) % 360 - 180) < 8
        # the map shows the registered footprint; the direct one is kept
        assert parse_gpkg_geometry(geom).difference(parse_gpkg_geometry(direct)).area > 0
        intr = adjusted_intrinsics(intrinsics_from_metadata(read_metadata(path)), k1)
        geo = georeference_frame(Pose(lat=lat, lon=lon, alt_amsl=amsl, alt_rel=rel, yaw=yaw,
                                      pitch=pitch, roll=roll, tilt=(te, tn)), intr)
        assert parse_gpkg_geometry(geom).equals_exact(geo.footprint, 1e-7)
        for ffid, x0, y0, x1, y1, flon, flat in flags:
            if ffid == fid:   # flags placed through the registered pose
                glon, glat, _ = geo.pixel_to_lonlat([(x0 + x1) / 2 - 0.5], [(y0 + y1) / 2 - 0.5])
                assert (glon[0], glat[0]) == pytest.approx((flon, flat), abs=1e-7)
    assert 0.1 < np.median(tilts) < 6.0, tilts
    # running again (nothing new) keeps the registration; the file reads back the same
    with FlightStore.open(out) as store:
        from processing.store.registration import read_registration

        assert {r["status"] for r in read_registration(store).values()} <= {"registered", "direct"}
