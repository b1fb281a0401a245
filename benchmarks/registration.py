"""Frame registration on real frames: footprints against the point cloud, seams between frames.

Brighton (12 DJI Phantom 3 nadir frames, ~40 m up; ``../shared/data/brighton``), processed
through the pipeline twice (``--detectors none``; without and with ``register=True``), plus the
direct GeoPackage registered once more with the ground estimate off (``Priors(bias_m=None)``,
what ``--register`` did before the ties measured the ground), then scored the same way:

* **Footprints against the cloud.**  The point cloud ``model.laz`` is rendered top-down (10 cm
  cells, as :mod:`benchmarks.georef_accuracy` does).  Each frame is orthorectified with its
  *direct* pose onto that grid, ORB features are matched with the cloud's raster (RANSAC
  similarity to drop mismatches), and the matched features are taken back to the frame's own
  pixels; a RANSAC homography from frame pixels to the cloud's ground gives the frame's
  reference footprint (its corners).  The reference is made once, from the direct poses, and
  scores every run: corner distance (m) and IoU with the footprint in the GeoPackage.  Frames
  whose reference has fewer than 40 inliers are left out (named).  Also the corner distance
  once the block's mean offset from the cloud is taken out (what no frame-to-frame evidence
  can move: where the GPS puts the block as a whole).  Caveat: ODM georeferenced the cloud
  from the GPS tags of its own, larger set of photos.
* **A second reference** (``footprints_vs_cloud_resection``), from the same matches: each
  frame's camera resected on the cloud (``solvePnP`` with the frame's own lens and the cloud's
  height under each feature), its corners put on the plane at its features' median height.
  A homography fitted on the fifth of a frame the cloud covers extrapolates its corners with 8
  free parameters and no lens; a camera has 6.  Printed with it: how far each reference's
  corners move when refitted on resampled inliers, how far the two references' corners are
  apart (``reference_corners_apart_m``: what the cloud can tell at a corner), and the SIFT
  seams through the resected cameras (how well that reference agrees with itself).
* **Seams.**  For every pair of frames whose footprints overlap (15 % of the smaller),
  SIFT features (not the ORB features the registration ties are made of) are matched at 1/4
  size, RANSAC homography inliers kept, and each matched pixel is put on the ground through the
  frame's camera from the GeoPackage's pose (direct, or the registered one); the distance
  between the two ground points of a match is the seam error.

Orthority (4 DJI Phantom 4 RTK oblique frames, gimbal -60 deg, ~100 m up;
``../shared/data/orthority-odm``): processed direct and registered, on flat ground and on the
site's DSM; a 9 x 9 grid of each frame's pixels is put on the ground through the stored pose
(with the run's ground) and through the structure-from-motion pose on the DSM; the median
distance, so registration can be seen not to make oblique frames worse.

Run: ``python -m benchmarks.registration`` (prints JSON; about two minutes on 2 cores).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _cameras(gpkg, ground=None):
    """Frame path -> (camera from the stored pose, registered or direct; footprint in UTM),
    placed as the mosaic places them (:func:`processing.orthomosaic.poses.placed_frames`).

    ``ground``: the run's ground (flat at take-off by default): a registered pose carries the
    ground the ties found as a lower camera over that same ground model."""
    from processing.georef import FlatGround
    from processing.orthomosaic.poses import placed_frames
    from processing.store import FlightStore

    with FlightStore.open(gpkg) as store:
        placed, _ = placed_frames(store, ground or FlatGround())
    return {p.path: (p.geo, p.geo.footprint_utm) for p in placed}


def _reference_footprints(paths, cams, ref, origin, res):
    """Per frame: its corners on the cloud (RANSAC homography pixels -> cloud ground), inliers."""
    import cv2

    from processing.frames import decode_frame, read_frame_bytes
    from processing.geotiff import orthorectify

    x0, y1 = origin
    raw = {}
    h, w = ref.shape[:2]
    bounds = (x0, y1 - h * res, x0 + w * res, y1)
    gr = cv2.cvtColor(ref, cv2.COLOR_BGR2GRAY)
    orb = cv2.ORB_create(8000)
    kr, dr = orb.detectAndCompute(gr, None)
    out = {}
    for p in paths:
        geo = cams[p][0]
        img = decode_frame(read_frame_bytes(p), str(p), reduce=4)
        ours, _, valid = orthorectify(img, geo, reduce=4, res_m=res, bounds=bounds, max_px=100000)
        ours[~valid] = 0
        g = cv2.cvtColor(ours, cv2.COLOR_BGR2GRAY)
        ko, do = orb.detectAndCompute(g, (g > 0).astype(np.uint8) * 255)
        if do is None:
            continue
        m = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(do, dr)
        if len(m) < 40:
            continue
        po = np.float32([ko[i.queryIdx].pt for i in m])
        pr = np.float32([kr[i.trainIdx].pt for i in m])
        cv2.setRNGSeed(1)
        M, inl = cv2.estimateAffinePartial2D(po, pr, method=cv2.RANSAC, ransacReprojThreshold=6.0,
                                             maxIters=5000)
        if M is None or inl.sum() < 40:
            continue
        k = inl.ravel().astype(bool)
        # our ortho cell -> ground (the pose's own ground) -> frame pixel
        gx, gy = x0 + (po[k, 0] + 0.5) * res, y1 - (po[k, 1] + 0.5) * res
        cam = geo.camera
        u, v, _ = cam.world_to_pixel(np.stack([gx, gy, np.full_like(gx, cam.ground_z)], -1))
        # the cloud's ground in metres from the raster's corner: float32 UTM northings (5.19e6 m)
        # are 0.5 m apart, which put every reference corner up to 0.25 m off and the RANSAC
        # threshold below at one quantum
        rxy = np.stack([(pr[k, 0] + 0.5) * res, -(pr[k, 1] + 0.5) * res], -1)
        uv = np.stack([u, v], -1)
        H, inl2 = cv2.findHomography(np.float32(uv), np.float32(rxy), cv2.RANSAC, 0.5)
        if H is None or inl2.sum() < 40:
            continue
        ok = inl2.ravel().astype(bool)
        out[p] = (cv2.perspectiveTransform(_corners(cam.intr)[None], H)[0] + (x0, y1), int(inl2.sum()),
                  uv[ok], rxy[ok] + (x0, y1))
        raw[p] = (uv, rxy, pr[k])
    return out, raw


def _corners(intr) -> np.ndarray:
    W, H = intr.width, intr.height
    return np.array([[-0.5, -0.5], [W - 0.5, -0.5], [W - 0.5, H - 0.5], [-0.5, H - 0.5]])


def _resect(obj, uv, intr, rvec, tvec):
    """Camera pose (OpenCV rvec, tvec) from the cloud's 3-D points and their frame pixels."""
    import cv2

    K, dist = intr.K, np.asarray(intr.distortion or (0.0,) * 5, float)
    return cv2.solvePnPRefineLM(obj, uv, K, dist, rvec.copy(), tvec.copy(),
                                (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_COUNT, 50, 1e-10))


def _resected_corners(intr, rvec, tvec, ground_z):
    """The frame's corner pixels on the plane ``z = ground_z`` through the resected camera."""
    import cv2

    R = cv2.Rodrigues(rvec)[0]
    C = -R.T @ tvec.ravel()
    dist = np.asarray(intr.distortion or (0.0,) * 5, float)
    n = cv2.undistortPoints(_corners(intr).reshape(-1, 1, 2), intr.K, dist).reshape(-1, 2)
    d = np.column_stack([n, np.ones(len(n))]) @ R   # camera rays in the cloud's frame
    t = (ground_z - C[2]) / d[:, 2]
    return C[:2] + t[:, None] * d[:, :2]


def _resection_footprints(raw, cams, top, origin, zref, rounds: int = 30):
    """Per frame: its corners from a camera resected on the cloud (solvePnP: the frame's own
    lens model, the cloud's heights under each matched feature), put on the plane at the
    matched features' median height, and how far those corners and the homography's move
    when the fit is redone on resampled inliers (the reference's own uncertainty).

    A homography has 8 free parameters and no lens; fitted on the fifth of a frame the cloud
    covers, its corners are extrapolated and move by metres.  A camera has 6 and the lens is
    known, so its corners follow from the part the cloud does cover.  Also each resected
    camera, ``(centre, rotation camera -> world, plane height)`` in UTM and the cloud's
    heights, for :func:`_reference_seams`."""
    import cv2

    x0, y1 = origin
    rng = np.random.default_rng(1)
    out, posed, spread = {}, {}, {"resection": [], "homography": []}
    for p, (uv, rxy, pr) in raw.items():
        cam = cams[p][0].camera
        intr = cam.intr
        col = np.clip(pr[:, 0].astype(int), 0, top.shape[1] - 1)
        row = np.clip(pr[:, 1].astype(int), 0, top.shape[0] - 1)
        z = top[row, col]
        have = np.isfinite(z)
        if have.sum() < 40:
            continue
        obj = np.column_stack([rxy[have], z[have] - zref]).astype(np.float64)
        img = uv[have].astype(np.float64)
        # the direct camera as the first guess, in the cloud's frame (heights differ by datum)
        R0 = cam.R.T
        C0 = cam.C - (x0, y1, cam.C[2] - cam.height_agl)
        rvec0, tvec0 = cv2.Rodrigues(R0)[0], (-R0 @ C0).reshape(3, 1)
        ok, rvec, tvec, inl = cv2.solvePnPRansac(
            obj, img, intr.K, np.asarray(intr.distortion or (0.0,) * 5, float), rvec0, tvec0,
            useExtrinsicGuess=True, iterationsCount=2000, reprojectionError=12.0,
            flags=cv2.SOLVEPNP_ITERATIVE)
        if not ok or inl is None or len(inl) < 40:
            continue
        inl = inl.ravel()
        rvec, tvec = _resect(obj[inl], img[inl], intr, rvec, tvec)
        gz = float(np.median(obj[inl, 2]))
        corners = _resected_corners(intr, rvec, tvec, gz)
        proj = cv2.projectPoints(obj[inl], rvec, tvec, intr.K,
                                 np.asarray(intr.distortion or (0.0,) * 5, float))[0].reshape(-1, 2)
        out[p] = (corners + (x0, y1), len(inl), img[inl], obj[inl, :2] + (x0, y1))
        R = cv2.Rodrigues(rvec)[0]
        posed[p] = (-R.T @ tvec.ravel() + (x0, y1, zref), R.T, gz + zref)
        # the reference's own uncertainty: refit on resampled inliers, corners' median move
        H = cv2.findHomography(img[inl].astype(np.float32), obj[inl, :2].astype(np.float32), 0)[0]
        hc = cv2.perspectiveTransform(_corners(intr)[None], H)[0]
        moves_r, moves_h = [], []
        for _ in range(rounds):
            b = rng.choice(inl, len(inl))
            rv, tv = _resect(obj[b], img[b], intr, rvec, tvec)
            moves_r.append(np.linalg.norm(_resected_corners(intr, rv, tv, gz) - corners, axis=1))
            Hb = cv2.findHomography(img[b].astype(np.float32), obj[b, :2].astype(np.float32), 0)[0]
            moves_h.append(np.linalg.norm(cv2.perspectiveTransform(_corners(intr)[None], Hb)[0] - hc, axis=1))
        spread["resection"].append(float(np.median(moves_r)))
        spread["homography"].append(float(np.median(moves_h)))
        spread.setdefault("reprojection_px", []).append(
            float(np.median(np.linalg.norm(proj - img[inl], axis=1))))
    return out, posed, {k: [round(v, 2) for v in sorted(vals)] for k, vals in spread.items()}


def _apart(refs, resected) -> dict:
    """How far apart the homography's and the resected camera's corners are (the same frames)."""
    d = np.concatenate([np.linalg.norm(refs[p][0] - resected[p][0], axis=1) for p in resected if p in refs])
    return {"median": round(float(np.median(d)), 2), "p90": round(float(np.percentile(d, 90)), 2),
            "max": round(float(d.max()), 2)}


def _reference_seams(posed, cams, matches):
    """The SIFT seams through the resected cameras, all on one plane (the median of their
    planes): how well the reference agrees with itself where frames overlap, the floor below
    which it cannot tell one registration from another."""
    import copy
    from types import SimpleNamespace

    plane = float(np.median([z for _, _, z in posed.values()]))
    ref = {}
    for p, (C, R, _) in posed.items():
        cam = copy.copy(cams[p][0].camera)
        cam.C, cam.R, cam.ground_z = np.asarray(C, float), R, plane
        ref[p] = (SimpleNamespace(camera=cam), None)
    both = {k: v for k, v in matches.items() if k[0] in ref and k[1] in ref}
    return _score_seams(ref, both)


def _score_footprints(cams, refs):
    import shapely

    offs, ious, at = [], [], []
    for p, (corners, _, uv, rxy) in refs.items():
        cam = cams[p][0].camera
        W, H = cam.intr.width, cam.intr.height
        P = cam.pixel_to_world([-0.5, W - 0.5, W - 0.5, -0.5], [-0.5, -0.5, H - 0.5, H - 0.5])[:, :2]
        offs.append(corners - P)
        a, b = shapely.Polygon(P), shapely.Polygon(corners)
        ious.append(a.intersection(b).area / a.union(b).area)
        at.append(rxy - cam.pixel_to_world(uv[:, 0], uv[:, 1])[:, :2])
    # the same at the reference's own inlier features: no extrapolation (the cloud covers only
    # a fifth to two thirds of each footprint, so the corners come from a homography fitted on
    # part of the frame: docs/registration.md)
    at = np.concatenate(at)
    inl = {"inlier_points_median_m": round(float(np.median(np.linalg.norm(at, axis=1))), 2),
           "inlier_points_median_without_block_offset_m": round(float(np.median(np.linalg.norm(
               at - at.mean(0), axis=1))), 2)}
    offs = np.concatenate(offs)
    errs = np.linalg.norm(offs, axis=1)
    shift = offs.mean(0)
    return {"frames": len(refs), "corner_median_m": round(float(np.median(errs)), 2),
            "corner_p90_m": round(float(np.percentile(errs, 90)), 2),
            "iou_median": round(float(np.median(ious)), 3), "iou_mean": round(float(np.mean(ious)), 3),
            "block_offset_m": [round(float(v), 2) for v in shift],
            "corner_median_without_block_offset_m": round(float(np.median(np.linalg.norm(offs - shift, axis=1))), 2),
            **inl}


def _reference_span(refs, cams) -> list[float]:
    """Per reference frame, the share of the frame inside the convex hull of its reference
    inliers: below 1, the reference's corners are extrapolated from the part the cloud covers."""
    import shapely

    out = []
    for p, (_, _, uv, _) in refs.items():
        intr = cams[p][0].camera.intr
        out.append(round(float(shapely.MultiPoint(uv).convex_hull.area / (intr.width * intr.height)), 2))
    return sorted(out)


def _sift_matches(paths, pairs):
    import cv2

    from processing.frames import decode_frame, read_frame_bytes

    sift = cv2.SIFT_create(4000)
    feats = {}
    for p in paths:
        g = cv2.cvtColor(decode_frame(read_frame_bytes(p), str(p), reduce=4), cv2.COLOR_BGR2GRAY)
        k, d = sift.detectAndCompute(g, None)
        feats[p] = (np.float32([x.pt for x in k]) * 4 + 1.5, d)
    out = {}
    for a, b in pairs:
        (pa, da), (pb, db) = feats[a], feats[b]
        knn = cv2.BFMatcher(cv2.NORM_L2).knnMatch(da, db, k=2)
        good = [m[0] for m in knn if len(m) == 2 and m[0].distance < 0.75 * m[1].distance]
        if len(good) < 20:
            continue
        ua, ub = pa[[m.queryIdx for m in good]], pb[[m.trainIdx for m in good]]
        cv2.setRNGSeed(1)
        H, inl = cv2.findHomography(ua, ub, cv2.RANSAC, 12.0)
        if H is None or inl.sum() < 20:
            continue
        k = inl.ravel().astype(bool)
        out[(a, b)] = (ua[k], ub[k])
    return out


def _score_seams(cams, matches):
    d = []
    for (a, b), (ua, ub) in matches.items():
        ga = cams[a][0].camera.pixel_to_world(ua[:, 0], ua[:, 1])[:, :2]
        gb = cams[b][0].camera.pixel_to_world(ub[:, 0], ub[:, 1])[:, :2]
        d.append(np.linalg.norm(ga - gb, axis=1))
    d = np.concatenate(d)
    return {"pairs": len(matches), "matches": int(len(d)), "median_m": round(float(np.median(d)), 2),
            "p90_m": round(float(np.percentile(d, 90)), 2)}


def brighton(workdir: str | None = None) -> dict:
    from benchmarks.georef_accuracy import _cloud_ortho
    from processing import process_frames
    from processing.ties import overlapping_pairs

    folder = DATA / "brighton"
    paths = sorted(str(p) for p in folder.glob("DJI_*.JPG"))
    tmp = Path(workdir or tempfile.mkdtemp(prefix="uav-reg-"))
    runs, seconds = {}, {}
    for name, register in (("direct", False), ("registered", True)):
        out = tmp / f"{name}.gpkg"
        if out.exists():
            out.unlink()
        t = time.perf_counter()
        s = process_frames(paths, out, detectors=(), workers=2, progress=False, register=register)
        seconds[name] = round(time.perf_counter() - t, 1)
        runs[name] = (out, s)
    # the same ties and solve with the ground estimate off: what --register did before
    import shutil

    from processing.register_flight import register_flight
    from processing.registration import Priors
    from processing.store import FlightStore

    off = tmp / "registered_ground_off.gpkg"
    shutil.copy(runs["direct"][0], off)
    with FlightStore.open(off) as store:
        register_flight(store, priors=Priors(bias_m=None))
    runs["registered_ground_off"] = (off, None)
    cams = {k: _cameras(v[0]) for k, v in runs.items()}
    ref, (x0, y1, res), zmed, top = _cloud_ortho(folder / "model.laz", heights=True)
    refs, raw = _reference_footprints(paths, cams["direct"], ref, (x0, y1), res)
    resected, posed, spread = _resection_footprints(raw, cams["direct"], top, (x0, y1), zmed)
    fps = [cams["direct"][p][0].footprint_utm for p in paths]
    pairs = [(paths[a], paths[b]) for a, b in overlapping_pairs(fps)]
    matches = _sift_matches(paths, pairs)
    reg = runs["registered"][1].registration
    return {
        "frames": len(paths), "reference_frames_left_out": sorted(
            os.path.basename(p) for p in paths if p not in refs),
        "reference_span_of_frame": _reference_span(refs, cams["direct"]),
        "footprints_vs_cloud": {k: _score_footprints(c, refs) for k, c in cams.items()},
        "footprints_vs_cloud_resection": {k: _score_footprints(c, resected) for k, c in cams.items()},
        "reference_corner_uncertainty_m": spread,
        # the two references, made from the same matches, at the same corners
        "reference_corners_apart_m": _apart(refs, resected),
        "seams_sift": {k: _score_seams(c, matches) for k, c in cams.items()},
        "seams_sift_resected_reference": _reference_seams(posed, cams["direct"], matches),
        "registration": None if reg is None else {
            "registered": reg.registered, "pairs": reg.pairs, "ties": reg.ties,
            "ground_above_takeoff_m": round(reg.ground_above_m, 2), "ground_estimated": reg.height_bias_used,
            "ground_sd_m": None if reg.height_bias_sd_m is None else round(reg.height_bias_sd_m, 2),
            "summary": str(reg),
            "lens_k1": round(reg.lens_k1, 4), "lens_used": reg.lens_used,
            "tie_seams_before_after_m": [reg.seam_before_m, reg.seam_after_m]},
        "process_seconds": seconds,
    }


def orthority(workdir: str | None = None) -> dict:
    """Oblique frames: pixels on the ground through the stored pose vs the SfM pose on the DSM."""
    import math

    from pyproj import Transformer

    from benchmarks.georef_accuracy import _sfm_centre_and_rotation
    from processing import process_frames
    from processing.georef import DemGround, FlatGround
    from uav.geo import offset_lonlat

    folder = DATA / "orthority-odm"
    rec = json.loads((folder / "opensfm" / "reconstruction.json").read_text())[0]
    ref = rec["reference_lla"]
    dsm = str(folder / "odm_dem" / "dsm.tif")
    paths = sorted(str(p) for p in (folder / "images").glob("*.tif"))
    tmp = Path(workdir or tempfile.mkdtemp(prefix="uav-reg-obl-"))
    out, notes = {}, {}
    for ground_name, dem in (("flat", None), ("dsm", dsm)):
        for register in (False, True):
            name = f"{ground_name}_{'registered' if register else 'direct'}"
            gpkg = tmp / f"{name}.gpkg"
            s = process_frames(paths, gpkg, detectors=(), workers=0, progress=False, register=register, dem=dem)
            if s.registration is not None:
                notes[name] = str(s.registration)
            cams = _cameras(gpkg, DemGround(dem) if dem else FlatGround())
            on_dsm = _cameras(gpkg, DemGround(dsm))
            d = []
            for p, (geo, _) in cams.items():
                cam = geo.camera
                shot = rec["shots"][Path(p).stem]
                C_enu, R_sfm = _sfm_centre_and_rotation(shot)
                lon, lat = offset_lonlat(ref["longitude"], ref["latitude"], C_enu[0], C_enu[1])
                ref_cam = on_dsm[p][0].camera
                x, y = Transformer.from_crs(4326, cam.epsg, always_xy=True).transform(lon, lat)
                g = math.radians(cam.north_bearing_deg)
                rz = np.array([[math.cos(-g), -math.sin(-g), 0], [math.sin(-g), math.cos(-g), 0], [0, 0, 1]])
                ref_cam.C = np.array([x, y, ref["altitude"] + C_enu[2]])
                ref_cam.R = rz @ R_sfm
                u, v = np.meshgrid(np.linspace(0, cam.intr.width - 1, 9), np.linspace(0, cam.intr.height - 1, 9))
                Pa = cam.pixel_to_world(u.ravel(), v.ravel())
                Pb = ref_cam.pixel_to_world(u.ravel(), v.ravel())
                dd = np.linalg.norm(Pa[:, :2] - Pb[:, :2], axis=1)
                d.append(dd[np.isfinite(dd)])
            d = np.concatenate(d)
            out[name] = {"median_m": round(float(np.median(d)), 2), "p90_m": round(float(np.percentile(d, 90)), 2),
                         "pixels": int(len(d))}
    return {"pixel_ground_vs_sfm": out, "registration": notes}


if __name__ == "__main__":
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    res = {"brighton": brighton()}
    if (DATA / "orthority-odm").exists():
        res["orthority"] = orthority()
    print(json.dumps(res, indent=1, default=str))
