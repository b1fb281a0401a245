"""How far off is the georeferencing?  Measured on real photos against independent references.

Brighton (12 DJI Phantom 3 nadir frames, ~40 m up) against the photogrammetric point cloud
``model.laz``: the cloud is rendered top-down (10 cm cells, RGB); each frame is orthorectified
with the pose from its own EXIF/XMP onto the same grid, and ORB features are matched between
the two rasters.  For matches that survive a RANSAC similarity fit (to drop mismatches only),
the distance between where *we* put a feature and where the *cloud* has it is the pixel->ground
error, in metres.  Caveat: ODM georeferenced the cloud from the same GPS tags, so a bias shared
by all frames' GPS is invisible here; what is measured is the camera model, heights, yaw and the
frame-to-frame GPS scatter.  Reported with the 180-degree pixel-rotation fix on and off.

Orthority (4 DJI Phantom 4 RTK oblique frames, gimbal -60 deg) against the structure-from-motion
poses in ``opensfm/reconstruction.json``: camera-position difference (m), optical-axis angle
difference (deg), and the distance between the DSM ray intersections of the same pixels (centre
and corners) with our pose vs the SfM pose (m).

Run: ``python -m benchmarks.georef_accuracy``
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _cloud_ortho(laz: Path, res: float = 0.10, heights: bool = False):
    """The cloud drawn top-down: BGR raster, ``(x0, y1, res)``, median height; with
    ``heights`` also the top point's height per cell (NaN where no point fell)."""
    import cv2
    import laspy

    las = laspy.read(laz)
    x, y, z = np.asarray(las.x), np.asarray(las.y), np.asarray(las.z)
    rgb = np.stack([np.asarray(las.red), np.asarray(las.green), np.asarray(las.blue)], -1).astype(float)
    if rgb.max() > 255:
        rgb /= 256.0
    x0, y1 = x.min(), y.max()
    w, h = int((x.max() - x0) / res) + 1, int((y1 - y.min()) / res) + 1
    c = ((x - x0) / res).astype(int)
    r = ((y1 - y) / res).astype(int)
    order = np.argsort(z)  # highest point last -> wins
    img = np.zeros((h, w, 3), np.uint8)
    img[r[order], c[order]] = rgb[order][:, ::-1].astype(np.uint8)  # BGR
    holes = (img.sum(2) == 0).astype(np.uint8)
    img = cv2.inpaint(img, holes, 2, cv2.INPAINT_TELEA)
    if heights:
        top = np.full((h, w), np.nan)
        top[r[order], c[order]] = z[order]
        return img, (x0, y1, res), float(np.median(z)), top
    return img, (x0, y1, res), float(np.median(z))


def _match_errors(a, b, res, min_inliers=20):
    """Distances (m) between matched features of two co-registered rasters (a: ours, b: ref)."""
    import cv2

    ga = cv2.cvtColor(a, cv2.COLOR_BGR2GRAY)
    gb = cv2.cvtColor(b, cv2.COLOR_BGR2GRAY)
    orb = cv2.ORB_create(5000)
    ka, da = orb.detectAndCompute(ga, (ga > 0).astype(np.uint8) * 255)
    kb, db = orb.detectAndCompute(gb, None)
    if da is None or db is None:
        return None, 0.0
    m = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(da, db)
    if len(m) < min_inliers:
        return None, 0.0
    pa = np.float32([ka[i.queryIdx].pt for i in m])
    pb = np.float32([kb[i.trainIdx].pt for i in m])
    M, inl = cv2.estimateAffinePartial2D(pa, pb, method=cv2.RANSAC, ransacReprojThreshold=6.0,
                                         maxIters=5000)
    if M is None or inl.sum() < min_inliers:
        return None, 0.0
    inl = inl.ravel().astype(bool)
    d = np.linalg.norm(pa[inl] - pb[inl], axis=1) * res
    rot = math.degrees(math.atan2(M[1, 0], M[0, 0]))
    return d, rot


def brighton(fix_rotation: bool = True) -> dict:
    from processing.frames import decode_frame, read_frame_bytes, read_metadata
    from processing.georef import FlatGround, georeference_frame
    from processing.geotiff import orthorectify
    from processing.poses import intrinsics_from_metadata, pose_from_metadata
    from processing.yaw_check import check_pixel_rotation

    folder = DATA / "brighton"
    ref, (x0, y1, res), zmed = _cloud_ortho(folder / "model.laz")
    h, w = ref.shape[:2]
    bounds = (x0, y1 - h * res, x0 + w * res, y1)
    paths = sorted(folder.glob("DJI_*.JPG"))
    metas = [read_metadata(p) for p in paths]
    poses = [pose_from_metadata(m) for m in metas]
    if fix_rotation:
        soft = [" / ".join(x for x in (m.software, m.xmp.get("xmp:CreatorTool")) if x) for m in metas]
        poses, _ = check_pixel_rotation(poses, soft, lambda i: decode_frame(
            read_frame_bytes(paths[i]), str(paths[i]), reduce=8))
    results = {}
    for ground_name, ground in (("takeoff", FlatGround()), ("cloud_median", FlatGround(zmed))):
        per, alld, rots = {}, [], []
        for p, m, pose in zip(paths, metas, poses, strict=True):
            geo = georeference_frame(pose, intrinsics_from_metadata(m), ground)
            img = decode_frame(read_frame_bytes(p), str(p), reduce=4)
            ours, _, valid = orthorectify(img, geo, reduce=4, res_m=res, bounds=bounds, max_px=100000)
            ours[~valid] = 0
            d, rot = _match_errors(ours, ref, res)
            if d is None:
                per[p.name] = None
                continue
            per[p.name] = {"median_m": round(float(np.median(d)), 2), "p90_m": round(float(np.percentile(d, 90)), 2),
                           "matches": int(len(d)), "rotation_deg": round(rot, 1)}
            alld.append(d)
            rots.append(abs(rot))
        alld = np.concatenate(alld) if alld else np.empty(0)
        results[ground_name] = {
            "frames_matched": sum(v is not None for v in per.values()), "frames": len(paths),
            "median_error_m": round(float(np.median(alld)), 2) if alld.size else None,
            "p90_error_m": round(float(np.percentile(alld, 90)), 2) if alld.size else None,
            "median_abs_rotation_deg": round(float(np.median(rots)), 1) if rots else None,
            "per_frame": per}
    return results


def _sfm_centre_and_rotation(shot):
    import cv2

    R, _ = cv2.Rodrigues(np.asarray(shot["rotation"], float))  # world(ENU) -> camera
    t = np.asarray(shot["translation"], float)
    return -R.T @ t, R.T  # centre, camera -> world


def orthority() -> dict:
    from pyproj import Transformer

    from processing.frames import read_metadata
    from processing.georef import DemGround, camera_rotation, georeference_frame
    from processing.poses import intrinsics_from_metadata, pose_from_metadata
    from uav.geo import offset_lonlat

    folder = DATA / "orthority-odm"
    rec = json.loads((folder / "opensfm" / "reconstruction.json").read_text())[0]
    ref = rec["reference_lla"]
    dsm = str(folder / "odm_dem" / "dsm.tif")
    out = {}
    for name, shot in rec["shots"].items():
        p = folder / "images" / f"{name}.tif"
        meta = read_metadata(p)
        pose = pose_from_metadata(meta)
        K = intrinsics_from_metadata(meta)
        C_enu, R_sfm = _sfm_centre_and_rotation(shot)
        lon, lat = offset_lonlat(ref["longitude"], ref["latitude"], C_enu[0], C_enu[1])
        alt = ref["altitude"] + C_enu[2]
        geo = georeference_frame(pose, K, DemGround(dsm))
        cam = geo.camera
        x, y = Transformer.from_crs(4326, cam.epsg, always_xy=True).transform(lon, lat)
        pos_err = float(np.linalg.norm(cam.C - np.array([x, y, alt])))
        R_ours_true = camera_rotation(pose.yaw, pose.pitch, pose.roll)
        axis_err = math.degrees(math.acos(np.clip(R_ours_true[:, 2] @ R_sfm[:, 2], -1, 1)))
        up_err = math.degrees(math.acos(np.clip(R_ours_true[:, 1] @ R_sfm[:, 1], -1, 1)))
        # same pixels through the SfM pose (turned from true ENU to UTM grid axes)
        g = math.radians(cam.north_bearing_deg)
        rz = np.array([[math.cos(-g), -math.sin(-g), 0], [math.sin(-g), math.cos(-g), 0], [0, 0, 1]])
        ref_cam = georeference_frame(pose, K, DemGround(dsm)).camera
        ref_cam.C = np.array([x, y, alt])
        ref_cam.R = rz @ R_sfm
        u = np.array([K.cx, 0, K.width - 1, K.width - 1, 0])
        v = np.array([K.cy, K.height * 0.5, K.height * 0.5, K.height - 1, K.height - 1])
        Pa, Pb = cam.pixel_to_world(u, v), ref_cam.pixel_to_world(u, v)
        d = np.linalg.norm(Pa[:, :2] - Pb[:, :2], axis=1)
        out[name] = {"position_m": round(pos_err, 2), "axis_deg": round(axis_err, 2),
                     "image_up_deg": round(up_err, 2), "centre_ground_m": round(float(d[0]), 2),
                     "edge_ground_m_max": round(float(np.nanmax(d[1:])), 2),
                     "ground_range_m": round(float(np.hypot(*(Pb[0, :2] - ref_cam.C[:2]))), 1)}
    vals = list(out.values())
    return {"per_frame": out,
            "median_position_m": round(float(np.median([v["position_m"] for v in vals])), 2),
            "median_axis_deg": round(float(np.median([v["axis_deg"] for v in vals])), 2),
            "median_centre_ground_m": round(float(np.median([v["centre_ground_m"] for v in vals])), 2)}


def run() -> dict:
    """All figures (skips datasets that are absent)."""
    res: dict = {}
    if (DATA / "brighton" / "model.laz").exists():
        res["brighton"] = brighton(True)
        res["brighton_without_rotation_fix"] = {k: {kk: vv for kk, vv in v.items() if kk != "per_frame"}
                                                for k, v in brighton(False).items()}
    if (DATA / "orthority-odm").exists():
        res["orthority"] = orthority()
    return res


if __name__ == "__main__":
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    print(json.dumps(run(), indent=1))
