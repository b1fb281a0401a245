"""How far a flag's map position may be off: the errors we have, pushed through the camera model.

A flag is placed where the ray through its box centre meets the ground (flat, or the DEM given
with ``--dem``: :class:`processing.georef.CameraModel`).  Its horizontal position uncertainty is
how far that ground point moves for the errors a survey drone really has, each tried by
intersecting the perturbed ray with the same ground (so over a DEM a slope facing the camera
narrows it and a valley behind a ridge widens it):

* **attitude**: the gimbal's yaw, pitch and roll each off by ``attitude_deg`` either way (a
  consumer gimbal and compass: 1-2 deg).  Near nadir this moves the point by about the height
  times the angle; near the horizon a 1.5 deg pitch error moves it hundreds of metres;
* **height**: the camera's height above the ground under the flag off by ``height_m`` plus
  ``height_frac`` of the height (barometric drift, DEM error; flat country without a DEM is
  assumed, hilly ground without one is worse);
* **where in the box the object is**: a box's centre is not its foot.  An object standing on the
  ground touches it at the box bottom; a smoke plume rises from its base, which is at the box
  bottom or *behind* the ground seen there (hidden by a ridge), so for smoke the far end is
  where the ray through the box top meets the ground, or the usable range when the top is sky;
* **GNSS**: the camera's own position, ``gnss_m``.

Each perturbation's displacement is the larger of its two signs; a perturbed ray that misses the
ground counts as reaching the usable range (``CameraModel.max_range``).  The terms are added in
quadrature (independent errors) and the result is a radius in metres: "smoke at 43.1N 131.4E
± 350 m".

A box whose centre ray misses the ground (sky, or beyond the usable range) has no position; it
gets the true bearing of that ray from the camera and the nearest distance it can be at (where
the box bottom meets the ground, else the usable range): "bearing 312 deg, beyond 2,400 m".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .detect.base import SMOKE
from .georef import CameraModel, camera_rotation

__all__ = ["PoseErrors", "BoxUncertainty", "box_uncertainty", "beyond_note"]

# Classes that rise above where they start: their base is at or behind the box bottom.
RISING = frozenset({SMOKE})


@dataclass(frozen=True)
class PoseErrors:
    """The errors a flag's position is tried against (one standard-ish value each)."""

    attitude_deg: float = 1.5
    height_m: float = 3.0
    height_frac: float = 0.03
    gnss_m: float = 2.5


@dataclass(frozen=True)
class BoxUncertainty:
    """Per box: the horizontal position uncertainty (m; NaN where the centre is not on the
    ground), the true bearing of the centre's ray from the camera (deg) and how far away the
    box's object is at least (m: where the box bottom meets the ground, else the usable range)."""

    uncertainty_m: np.ndarray
    bearing_deg: np.ndarray
    beyond_m: np.ndarray


def _horizontal_shift(cam: CameraModel, P: np.ndarray, P0: np.ndarray) -> np.ndarray:
    """How far ``P`` lies from ``P0`` on the map; a miss counts as the usable range."""
    d = np.hypot(P[:, 0] - P0[:, 0], P[:, 1] - P0[:, 1])
    r0 = np.hypot(P0[:, 0] - cam.C[0], P0[:, 1] - cam.C[1])
    return np.where(np.isfinite(d), d, np.maximum(cam.max_range - r0, 0.0))


def _attitude(cam: CameraModel, D: np.ndarray, P0: np.ndarray, deg: float) -> np.ndarray:
    d_cam = D @ cam.R                      # the rays in the camera frame (R is orthonormal)
    yaw, pitch, roll = cam.pose.yaw + cam.north_bearing_deg, cam.pose.pitch, cam.pose.roll or 0.0
    total = np.zeros(len(D))
    for axis in range(3):
        worst = np.zeros(len(D))
        for sign in (1.0, -1.0):
            a = [yaw, pitch, roll]
            a[axis] += sign * deg
            P = cam.hit_ground(d_cam @ camera_rotation(*a).T)
            worst = np.maximum(worst, _horizontal_shift(cam, P, P0))
        total += worst ** 2
    return np.sqrt(total)


def _height(cam: CameraModel, D: np.ndarray, P0: np.ndarray, errors: PoseErrors) -> np.ndarray:
    dz = errors.height_m + errors.height_frac * cam.height_agl
    worst = np.zeros(len(D))
    for sign in (1.0, -1.0):
        P = cam.hit_ground(D, cam.C + np.array([0.0, 0.0, sign * dz]))
        worst = np.maximum(worst, _horizontal_shift(cam, P, P0))
    return worst


def box_uncertainty(cam: CameraModel, boxes: np.ndarray, classes, centres: np.ndarray,
                    errors: PoseErrors = PoseErrors()) -> BoxUncertainty:
    """Position uncertainty of boxes already placed on the ground.

    Parameters
    ----------
    cam : CameraModel
    boxes : ndarray (N, 4)
        ``x0, y0, x1, y1`` in continuous full-frame pixel coordinates (a pixel centre at .0).
    classes : sequence of str
        Each box's class (smoke rises from behind what the box bottom shows).
    centres : ndarray (N, 3)
        Where each box centre's ray met the ground (NaN rows: it did not).
    errors : PoseErrors
    """
    boxes = np.atleast_2d(np.asarray(boxes, float))
    P0 = np.atleast_2d(np.asarray(centres, float))
    n = len(boxes)
    x0, y0, x1, y1 = boxes.T
    cu = (x0 + x1) / 2
    D = cam.rays(cu, (y0 + y1) / 2)
    grid = np.degrees(np.arctan2(D[:, 0], D[:, 1]))
    bearing = np.round((grid - cam.north_bearing_deg) % 360.0, 1)
    bottom = cam.pixel_to_world(cu, y1)
    beyond = np.hypot(bottom[:, 0] - cam.C[0], bottom[:, 1] - cam.C[1])
    beyond = np.where(np.isfinite(beyond), beyond, cam.max_range)
    out = np.full(n, np.nan)
    hit = np.isfinite(P0[:, 0])
    if hit.any():
        h = np.nonzero(hit)[0]
        Dh, Ph = D[h], P0[h]
        extent = _horizontal_shift(cam, bottom[h], Ph)
        rising = np.array([c in RISING for c in np.asarray(classes, object)[h].tolist()], bool)
        if rising.any():
            top = cam.pixel_to_world(cu[h][rising], y0[h][rising])
            extent[rising] = np.maximum(extent[rising], _horizontal_shift(cam, top, Ph[rising]))
        terms = (_attitude(cam, Dh, Ph, errors.attitude_deg), _height(cam, Dh, Ph, errors), extent,
                 np.full(len(h), errors.gnss_m))
        out[h] = np.round(np.sqrt(sum(t ** 2 for t in terms)), 1)
    return BoxUncertainty(out, bearing, np.round(beyond, 0))


def beyond_note(bearing_deg: float, beyond_m: float) -> str:
    """What a box with no ground position still says: which way, and how far at least."""
    return f"bearing {bearing_deg:.0f} deg (true) from the camera, beyond {beyond_m:,.0f} m"
