"""Pixel <-> ground through the camera model: flat ground or a DEM, footprints, GSD.

World coordinates are the local UTM zone (east, north, up, metres).  The camera's rotation is
built from the pose's yaw/pitch/roll (DJI convention, see :mod:`processing.poses`), with the
yaw turned from true north to UTM grid north (the meridian convergence, about 0.7 degrees at
Brighton, 0.5 m at the edge of a 70 m footprint).  A pixel's ray leaves the camera centre
through the (undistorted) pixel and is intersected with a horizontal plane or, by marching
along it, with a DEM.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import shapely

from uav.dem import dem_exists, load_dem
from uav.errors import GeoreferenceError
from uav.geo import LocalFrame, utm_epsg

from .poses import Intrinsics, Pose

__all__ = ["FlatGround", "DemGround", "CameraModel", "FrameGeoref", "georeference_frame",
           "camera_rotation"]

# Rays that miss the ground (above the horizon) or hit it further than this many times the
# camera's height are clipped there: an oblique frame's far edge is not a usable position.
MAX_RANGE_FACTOR = 20.0


@dataclass(frozen=True)
class FlatGround:
    """Horizontal ground at ``elevation`` metres (same datum as the pose's ``alt_amsl``).

    ``None`` puts it at the take-off point (``alt_amsl - alt_rel``), i.e. uses the drone's
    height above its take-off point: right for flat country, the default.
    """

    elevation: float | None = None


@dataclass(frozen=True)
class DemGround:
    """Terrain from a DEM GeoTIFF (any CRS rasterio reads; heights in the pose's datum)."""

    path: str

    def __post_init__(self):
        if not dem_exists(self.path):
            raise GeoreferenceError(f"DEM {self.path} does not exist")


class _Dem:
    """A flight's DEM seen from its UTM zone (heights NaN outside it or on no-data)."""

    def __init__(self, path: str, epsg: int):
        self.model = load_dem(path, error=GeoreferenceError)
        self.epsg = epsg
        self.res_m = max(self.model.res_m, 0.05)  # sets the ray-marching step
        self.zmin, self.zmax = self.model.zmin, self.model.zmax

    def height(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Bilinear height at UTM points; NaN outside the DEM or on nodata."""
        return self.model.heights_at(x, y, crs=self.epsg)

    def height_and_posts(self, x: np.ndarray, y: np.ndarray):
        """:meth:`height`, and the points as fractional (column, row) of the DEM's posts (the
        ground's slope is continuous between two whole numbers and breaks where one is
        crossed), from one transform of the points."""
        col, row = self.model.sample_coords(x, y, crs=self.epsg)
        return self.model.heights_at_samples(col, row), (col, row)


@lru_cache(maxsize=4)
def _dem(path: str, epsg: int) -> _Dem:
    """A prepared DEM, shared by every frame of a flight."""
    return _Dem(path, epsg)


def _rx(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _ry(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rz(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


# camera (x right, y down, z forward) -> gimbal body (x forward, y right, z down)
_CAM_TO_BODY = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], dtype=float)
# NED -> ENU
_NED_TO_ENU = np.array([[0, 1, 0], [1, 0, 0], [0, 0, -1]], dtype=float)


def camera_rotation(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """Rotation taking camera-frame vectors (OpenCV: x right, y down, z forward) to ENU.

    Yaw about down, then pitch about the right axis, then roll about the optical axis
    (aerospace Z-Y-X order, as DJI's gimbal angles are given).
    """
    r_ned = _rz(math.radians(yaw_deg)) @ _ry(math.radians(pitch_deg)) @ _rx(math.radians(roll_deg))
    return _NED_TO_ENU @ r_ned @ _CAM_TO_BODY


class CameraModel:
    """A posed pinhole camera over the ground.

    Parameters
    ----------
    pose : Pose
    intrinsics : Intrinsics
    ground : FlatGround or DemGround, optional
    epsg : int, optional
        Metric CRS to work in; the UTM zone of the camera by default.
    """

    def __init__(self, pose: Pose, intrinsics: Intrinsics, ground=None, epsg: int | None = None):
        if pose.yaw is None:
            raise GeoreferenceError("the camera's heading (yaw) is unknown, so its pixels cannot be "
                                    "placed on the ground")
        if pose.pitch is not None and pose.pitch > 0:
            # looking up: at most the bottom rows see the ground, far off and unmeasurable
            raise GeoreferenceError(f"the camera looks {pose.pitch:.0f} deg above the horizon "
                                    f"(gimbal pitch {pose.pitch:+.0f} deg), so its pixels cannot "
                                    "be placed on the ground")
        self.pose, self.intr = pose, intrinsics
        self.ground = ground if ground is not None else FlatGround()
        self.epsg = epsg or utm_epsg(pose.lon, pose.lat)
        self._frame = LocalFrame(self.epsg)
        x, y = self._frame.to_metric(pose.lon, pose.lat)
        self.dem = None
        if isinstance(self.ground, DemGround):
            self.dem = _dem(os.path.abspath(self.ground.path), self.epsg)
            if not np.isfinite(self.dem.height(np.array([x]), np.array([y]))[0]):
                # Marching rays over a DEM that is not under the camera gives footprints and
                # flags in the wrong place; say so instead.
                raise GeoreferenceError(
                    f"the frame at {pose.lat:.5f},{pose.lon:.5f} is outside the DEM "
                    f"{Path(self.ground.path).name} (or over its nodata): give a DEM that covers "
                    "the flight, or none for flat ground at the take-off height")
            if pose.alt_amsl is not None:
                z = pose.alt_amsl
            elif pose.alt_rel is not None:
                hz = self.dem.height(np.array([x]), np.array([y]))[0]
                if not np.isfinite(hz):
                    raise GeoreferenceError("the camera is outside the DEM and has no absolute altitude")
                z = hz + pose.alt_rel
            else:
                raise GeoreferenceError("the frame has no altitude")
            self.ground_z = None
        else:
            elev = self.ground.elevation
            if elev is None:
                if pose.alt_rel is None:
                    raise GeoreferenceError("the frame has no height above take-off (relative "
                                            "altitude); give the ground elevation or a DEM")
                if pose.alt_amsl is not None:
                    z, elev = pose.alt_amsl, pose.alt_amsl - pose.alt_rel
                else:
                    z, elev = pose.alt_rel, 0.0
            else:
                if pose.alt_amsl is None:
                    raise GeoreferenceError("the frame has no absolute altitude to compare with the "
                                            f"ground elevation {elev} m")
                z = pose.alt_amsl
            self.ground_z = float(elev)
        self.C = np.array([x, y, z], dtype=float)
        # a true heading becomes a grid bearing by adding the grid bearing of true north
        self.north_bearing_deg = float(LocalFrame(self.epsg).true_north_deg(pose.lon, pose.lat))
        self.R = camera_rotation(pose.yaw + self.north_bearing_deg, pose.pitch, pose.roll)
        if any(pose.tilt):
            self.R = _rx(math.radians(pose.tilt[0])) @ _ry(math.radians(pose.tilt[1])) @ self.R
        if self.ground_z is not None:
            self.height_agl = self.C[2] - self.ground_z
        else:
            hz = self.dem.height(np.array([x]), np.array([y]))[0]
            self.height_agl = self.C[2] - (hz if np.isfinite(hz) else self.dem.zmin)
        if not self.height_agl > 0:
            raise GeoreferenceError(f"the camera is {self.height_agl:.1f} m above the ground: "
                                    f"check the altitude and the ground elevation")
        self.max_range = max(MAX_RANGE_FACTOR * self.height_agl, 50.0)

    # -- rays ------------------------------------------------------------------------------
    def rays(self, u, v) -> np.ndarray:
        """Unit ray directions (N, 3) in world ENU for pixel coordinates ``u`` (x), ``v`` (y)."""
        u = np.atleast_1d(np.asarray(u, float))
        v = np.atleast_1d(np.asarray(v, float))
        intr = self.intr
        if intr.distortion is not None and any(intr.distortion):
            import cv2

            pts = np.stack([u, v], -1).reshape(-1, 1, 2)
            und = cv2.undistortPoints(pts, intr.K, np.asarray(intr.distortion, float)).reshape(-1, 2)
            xn, yn = und[:, 0], und[:, 1]
        else:
            xn = (u - intr.cx) / intr.focal_px
            yn = (v - intr.cy) / intr.fy
        d_cam = np.stack([xn, yn, np.ones_like(xn)], -1)
        d = d_cam @ self.R.T
        return d / np.linalg.norm(d, axis=1, keepdims=True)

    def pixel_to_world(self, u, v, clip: bool = False) -> np.ndarray:
        """Ground points (N, 3) in UTM for pixels; NaN rows where the ray misses the ground.

        With ``clip=True`` a missing ray is replaced by the point at the maximum range along
        its horizontal direction, at ground level below the camera (for footprints).
        """
        D = self.rays(u, v)
        P = self.hit_ground(D)
        if clip:
            miss = ~np.isfinite(P[:, 0])
            if miss.any():
                ground = self.ground_z if self.ground_z is not None else self.C[2] - self.height_agl
                d = D[miss]
                hd = d[:, :2]
                n = np.linalg.norm(hd, axis=1, keepdims=True)
                hd = np.where(n > 1e-9, hd / np.maximum(n, 1e-12), 0)
                # rays leaving the DEM meet the level of the ground under the camera instead;
                # rays above the horizon stop at the maximum range
                with np.errstate(divide="ignore", invalid="ignore"):
                    t = (ground - self.C[2]) / d[:, 2]
                horiz = t * n[:, 0]
                flat_ok = (d[:, 2] < -1e-9) & (horiz <= self.max_range)
                xy = np.where(flat_ok[:, None], self.C[:2] + t[:, None] * d[:, :2],
                              self.C[:2] + hd * self.max_range)
                P[miss, :2] = xy
                P[miss, 2] = ground
        return P

    def hit_ground(self, D, origin=None) -> np.ndarray:
        """Where rays ``D`` (N, 3, world) from ``origin`` (the camera centre by default) meet the
        ground (flat or the DEM); NaN rows for rays that miss it or meet it beyond the usable
        range.  A moved origin is how a height error is tried (:mod:`processing.flag_uncertainty`)."""
        C = self.C if origin is None else np.asarray(origin, float)
        D = np.atleast_2d(np.asarray(D, float))
        return self._hit_flat(D, C) if self.dem is None else self._hit_dem(D, C)

    def _hit_flat(self, D, C):
        dz = D[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (self.ground_z - C[2]) / dz
        ok = (dz < -1e-9) & (t > 0) & (t * np.hypot(D[:, 0], D[:, 1]) <= self.max_range)
        P = C + t[:, None] * D
        P[~ok] = np.nan
        return P

    def _hit_dem(self, D, C, chunk: int = 512):
        dem = self.dem
        out = np.full((len(D), 3), np.nan)
        step = dem.res_m / 2.0
        for s in range(0, len(D), chunk):
            d = D[s:s + chunk]
            dz = d[:, 2]
            horiz = np.hypot(d[:, 0], d[:, 1])
            t_max = np.where(horiz > 1e-9, self.max_range / np.maximum(horiz, 1e-9), np.inf)
            with np.errstate(divide="ignore", invalid="ignore"):
                t0 = np.where(dz < 0, np.maximum(0.0, (C[2] - dem.zmax) / -dz), 0.0)
                t1 = np.where(dz < 0, (C[2] - dem.zmin) / -dz, t_max)
            t1 = np.minimum(t1, t_max)
            t1 = np.where(np.isfinite(t1), t1, C[2] - dem.zmin + self.max_range)
            span = np.maximum(t1 - t0, 0.0)
            n = int(min(max(np.ceil(span.max() / step), 1), 20000))
            k = np.linspace(0.0, 1.0, n + 1)
            T = t0[:, None] + span[:, None] * k[None, :]
            X = C[0] + T * d[:, 0:1]
            Y = C[1] + T * d[:, 1:2]
            Z = C[2] + T * d[:, 2:3]
            H = dem.height(X.ravel(), Y.ravel()).reshape(X.shape)
            above = Z - H
            below = np.where(np.isfinite(above), above <= 0, False)
            has = below.any(axis=1)
            first = np.argmax(below, axis=1)
            for i in np.nonzero(has)[0]:
                j = first[i]
                if j == 0:
                    t = T[i, 0]
                else:
                    a0, a1 = above[i, j - 1], above[i, j]
                    f = a0 / (a0 - a1) if a0 != a1 else 0.0
                    t = T[i, j - 1] + f * (T[i, j] - T[i, j - 1])
                out[s + i] = C + t * d[i]
        return out

    def world_to_pixel(self, P) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Project world points (N, 3) to pixels; returns ``u, v, in_front``."""
        P = np.atleast_2d(np.asarray(P, float))
        pc = (P - self.C) @ self.R  # world -> camera
        in_front = pc[:, 2] > 1e-6
        intr = self.intr
        z = np.where(in_front, pc[:, 2], np.nan)
        xn, yn = pc[:, 0] / z, pc[:, 1] / z
        if intr.distortion is not None and any(intr.distortion):
            k1, k2, p1, p2, k3 = (list(intr.distortion) + [0] * 5)[:5]
            r2 = xn * xn + yn * yn
            radial = 1 + k1 * r2 + k2 * r2 * r2 + k3 * r2 ** 3
            xd = xn * radial + 2 * p1 * xn * yn + p2 * (r2 + 2 * xn * xn)
            yd = yn * radial + p1 * (r2 + 2 * yn * yn) + 2 * p2 * xn * yn
            xn, yn = xd, yd
        return intr.focal_px * xn + intr.cx, intr.fy * yn + intr.cy, in_front

    # -- lon/lat ---------------------------------------------------------------------------
    def to_lonlat(self, x, y):
        return self._frame.to_lonlat(np.asarray(x, float), np.asarray(y, float))

    def to_utm(self, lon, lat):
        return self._frame.to_metric(np.asarray(lon, float), np.asarray(lat, float))

    def pixel_to_lonlat(self, u, v):
        """``lon, lat, z`` arrays for pixels (NaN where the ray misses the ground)."""
        P = self.pixel_to_world(u, v)
        lon, lat = self.to_lonlat(P[:, 0], P[:, 1])
        bad = ~np.isfinite(P[:, 0])
        lon, lat = np.where(bad, np.nan, lon), np.where(bad, np.nan, lat)
        return lon, lat, P[:, 2]

    def lonlat_to_pixel(self, lon, lat, z):
        x, y = self.to_utm(lon, lat)
        return self.world_to_pixel(np.stack([np.atleast_1d(x), np.atleast_1d(y),
                                             np.broadcast_to(np.asarray(z, float), np.shape(np.atleast_1d(x)))], -1))

    # -- frame-level -----------------------------------------------------------------------
    def boundary_pixels(self, n_per_edge: int = 8) -> np.ndarray:
        """Pixel positions around the frame's edge, clockwise from the top-left corner."""
        W, H = self.intr.width, self.intr.height
        t = np.linspace(0, 1, n_per_edge, endpoint=False)
        top = np.stack([t * W, np.zeros_like(t)], -1)
        right = np.stack([np.full_like(t, W), t * H], -1)
        bottom = np.stack([W - t * W, np.full_like(t, H)], -1)
        left = np.stack([np.zeros_like(t), H - t * H], -1)
        return np.concatenate([top, right, bottom, left]) - 0.5

    def footprint_world(self, n_per_edge: int = 8) -> tuple[shapely.Polygon, bool]:
        """Footprint polygon in UTM, and whether part of it was clipped at the maximum range."""
        px = self.boundary_pixels(n_per_edge)
        raw = self.pixel_to_world(px[:, 0], px[:, 1])
        clipped = bool((~np.isfinite(raw[:, 0])).any())
        P = self.pixel_to_world(px[:, 0], px[:, 1], clip=True) if clipped else raw
        poly = shapely.Polygon(P[:, :2])
        if not poly.is_valid:
            poly = shapely.make_valid(poly)
            if poly.geom_type != "Polygon":
                poly = shapely.convex_hull(poly)
        return poly, clipped

    def gsd_m(self) -> float | None:
        """Metres per pixel on the ground at the principal point (mean of both directions)."""
        cx, cy = self.intr.cx, self.intr.cy
        P = self.pixel_to_world([cx, cx + 1, cx], [cy, cy, cy + 1])
        if not np.isfinite(P).all():
            return None
        return float((np.linalg.norm(P[1] - P[0]) + np.linalg.norm(P[2] - P[0])) / 2)

    def row_gsd(self, rows: int = 48) -> tuple[tuple[float, float], ...]:
        """Ground resolution down the frame: ``(row, metres per pixel)`` at ``rows`` rows from
        top to bottom, on the centre column (mean of the across- and along-range directions,
        as :meth:`gsd_m`); NaN where the row sees no ground (above the horizon, or beyond the
        usable range).  An oblique frame's far rows are several times coarser than its near
        ones, so one GSD per frame cannot say how big a car is everywhere in it."""
        v = np.linspace(0.5, self.intr.height - 1.5, rows)
        u = np.full_like(v, self.intr.cx)
        P = self.pixel_to_world(np.concatenate([u, u + 1, u]), np.concatenate([v, v, v + 1]))
        P0, Pu, Pv = P[:rows], P[rows:2 * rows], P[2 * rows:]
        g = (np.linalg.norm(Pu - P0, axis=1) + np.linalg.norm(Pv - P0, axis=1)) / 2
        return tuple((float(r), float(x)) for r, x in zip(v, g, strict=True))

    def box_ground_size(self, x0, y0, x1, y1) -> float | None:
        """Longest side (metres) of a pixel box's quadrilateral on the ground; None if it misses."""
        P = self.pixel_to_world([x0, x1, x1, x0], [y0, y0, y1, y1])
        if not np.isfinite(P).all():
            return None
        sides = np.linalg.norm(P - np.roll(P, -1, axis=0), axis=1)
        return float(sides.max())


@dataclass
class FrameGeoref:
    """A frame placed on the ground."""

    camera: CameraModel
    footprint: shapely.Polygon          # lon/lat
    footprint_utm: shapely.Polygon
    epsg: int
    gsd_m: float | None
    clipped: bool                        # part of the footprint is beyond the usable range

    def pixel_to_lonlat(self, u, v):
        return self.camera.pixel_to_lonlat(u, v)


def georeference_frame(pose: Pose, intrinsics: Intrinsics, ground=None,
                       n_per_edge: int = 8) -> FrameGeoref:
    """Place a frame on the ground: camera model, footprint polygon (lon/lat), GSD.

    Parameters
    ----------
    pose : Pose
    intrinsics : Intrinsics
    ground : FlatGround or DemGround, optional
        Flat ground at the take-off elevation by default.
    n_per_edge : int
        Footprint vertices per image edge (more follow lens distortion and terrain).

    Raises
    ------
    GeoreferenceError
        The pose lacks what is needed (yaw, altitude) or the camera is below the ground.
    """
    cam = CameraModel(pose, intrinsics, ground)
    fp_utm, clipped = cam.footprint_world(n_per_edge)
    xs, ys = np.asarray(fp_utm.exterior.coords).T
    lon, lat = cam.to_lonlat(xs, ys)
    footprint = shapely.Polygon(np.stack([lon, lat], -1))
    return FrameGeoref(camera=cam, footprint=footprint, footprint_utm=fp_utm, epsg=cam.epsg,
                       gsd_m=cam.gsd_m(), clipped=clipped)
