"""Ground heights from a DEM GeoTIFF, and terrain-following altitudes.

:class:`Dem` reads the elevation raster once (rasterio) and samples it with bilinear
interpolation at any lon/lat, whatever the raster's CRS.  :func:`follow_terrain` turns a
horizontal path into AMSL altitudes that keep the aircraft ``agl_m`` above the ground:

1. the path is sampled every ``step_m`` (about the DEM's cell size);
2. the wanted altitude is ground + ``agl_m`` at each sample;
3. climbs steeper than ``climb_rate / speed`` are started earlier and descents steeper than
   ``descent_rate / speed`` are ended later — both only ever *raise* the profile, so the
   aircraft is never lower than asked;
4. waypoints are kept only where the straight line between kept ones would be more than
   ``tolerance_m`` off the profile (Douglas-Peucker on the altitude profile), plus every
   original vertex of the path (where camera commands hang).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from uav.dem import ElevationModel
from uav.errors import PlanningError
from uav.geo import LocalFrame


class Dem(ElevationModel):
    """A DEM for planning: :class:`uav.dem.ElevationModel` whose sampling refuses gaps.

    Parameters
    ----------
    path : str or path-like
        A single-band GeoTIFF of heights in metres above mean sea level.
    """

    def __init__(self, path: str | os.PathLike):
        super().__init__(path, error=PlanningError)

    def sample(self, lon, lat) -> np.ndarray:
        """Ground height (m AMSL) at lon/lat points, bilinear between cell centres.

        Raises
        ------
        PlanningError
            When a point is outside the DEM or on a no-data cell.
        """
        lon = np.atleast_1d(np.asarray(lon, dtype=float))
        lat = np.atleast_1d(np.asarray(lat, dtype=float))
        z = self.heights_at(lon, lat)
        outside = ~np.isfinite(z)
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise PlanningError(
                f"DEM {os.path.basename(self.path)} has no height at lat {lat[i]:.6f}, lon "
                f"{lon[i]:.6f} ({int(outside.sum())} of {len(z)} points outside it or on no-data); "
                "use a DEM that covers the whole flight, home included")
        return z


@dataclass
class TerrainProfile:
    """A path with altitudes: the kept vertices and their AMSL heights."""

    xy: np.ndarray          # (n, 2) metric
    alt_amsl: np.ndarray    # (n,)
    ground: np.ndarray      # (n,) ground height under each vertex
    source_index: np.ndarray  # (n,) index of the input vertex, -1 for added ones
    max_agl_m: float        # highest height above ground anywhere along the dense profile
    min_agl_m: float


def _dp_keep(s: np.ndarray, z: np.ndarray, tol: float) -> np.ndarray:
    """Douglas-Peucker on a 1-D profile: indices kept so linear interpolation stays within tol."""
    keep = np.zeros(len(s), bool)
    keep[0] = keep[-1] = True
    stack = [(0, len(s) - 1)]
    while stack:
        i, j = stack.pop()
        if j <= i + 1:
            continue
        t = (s[i + 1:j] - s[i]) / max(s[j] - s[i], 1e-9)
        err = np.abs(z[i + 1:j] - (z[i] + t * (z[j] - z[i])))
        k = int(np.argmax(err))
        if err[k] > tol:
            m = i + 1 + k
            keep[m] = True
            stack.append((i, m))
            stack.append((m, j))
    return keep


def limit_gradients(s: np.ndarray, z: np.ndarray, climb: float, descent: float) -> np.ndarray:
    """Raise a profile so no climb is steeper than ``climb`` and no descent than ``descent``
    (both rise/run ratios)."""
    # Climb limit: z[i] >= z[k] - climb * (s[k] - s[i]) for every later k.
    z1 = np.maximum(z, np.maximum.accumulate((z - climb * s)[::-1])[::-1] + climb * s)
    # Descent limit: z[i] >= z[k] - descent * (s[i] - s[k]) for every earlier k.
    return np.maximum(z1, np.maximum.accumulate(z1 + descent * s) - descent * s)


def follow_terrain(xy: np.ndarray, frame: LocalFrame, dem: Dem, *, agl_m: float,
                   climb_gradient: float, descent_gradient: float, tolerance_m: float = 5.0,
                   step_m: float | None = None) -> TerrainProfile:
    """AMSL altitudes along a metric path that keep ``agl_m`` above the DEM's ground.

    Parameters
    ----------
    xy : (n, 2) array
        The horizontal path (metric, ``frame``); every vertex is kept.
    climb_gradient, descent_gradient : float
        Steepest climb and descent as rise over run (e.g. climb rate / speed).
    tolerance_m : float
        How far the flown straight lines may deviate from the wanted profile before a
        waypoint is added.
    """
    xy = np.asarray(xy, dtype=float)
    step = step_m or max(dem.res_m, 1.0)
    seg = np.hypot(*np.diff(xy, axis=0).T) if len(xy) > 1 else np.zeros(0)
    pts, src = [xy[:1]], [0]
    for i, L in enumerate(seg):
        n = max(1, int(math.ceil(L / step)))
        t = (np.arange(1, n + 1) / n)[:, None]
        pts.append(xy[i] + t * (xy[i + 1] - xy[i]))
        src.extend([-1] * (n - 1) + [i + 1])
    dense = np.vstack(pts)
    src = np.asarray(src)
    s = np.r_[0.0, np.cumsum(np.hypot(*np.diff(dense, axis=0).T))] if len(dense) > 1 else np.zeros(1)
    lon, lat = frame.to_lonlat(dense[:, 0], dense[:, 1])
    ground = dem.sample(lon, lat)
    z = limit_gradients(s, ground + agl_m, climb_gradient, descent_gradient)
    keep = src >= 0
    # Douglas-Peucker between consecutive original vertices, so they all stay.
    orig = np.flatnonzero(keep)
    for a, b in zip(orig[:-1], orig[1:]):
        if b > a + 1:
            keep[a:b + 1] |= _dp_keep(s[a:b + 1], z[a:b + 1], tolerance_m)
    agl = z - ground
    return TerrainProfile(dense[keep], z[keep], ground[keep], src[keep],
                          float(agl.max()), float(agl.min()))
