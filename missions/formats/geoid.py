"""EGM96 geoid heights, for DJI routes: heights above the geoid ("EGM96") and above the WGS84
ellipsoid at the same place.

The geoid is NGA's EGM96 15-minute grid as PROJ ships it (``us_nga_egm96_15.tif``, or the
older ``egm96_15.gtx`` that Debian's ``proj-data`` package installs in ``/usr/share/proj``),
applied by PROJ itself (pyproj's ``vgridshift``): no hand-written approximation.  The
ellipsoid height is ``h = H + N``, ``H`` the height above the geoid and ``N`` the geoid's
height above the ellipsoid (about +25 m in Primorsky Krai).
"""

from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path

from uav.errors import PlanFileError

GRID_NAMES = ("us_nga_egm96_15.tif", "egm96_15.gtx")
# Where PROJ's grids are found besides pyproj's own data folder (PROJ_DATA / PROJ_LIB are
# read by PROJ itself); Debian's proj-data installs here.
EXTRA_DIRS = ("/usr/share/proj", "/usr/local/share/proj")


def grid_path() -> Path | None:
    """The EGM96 grid file on this machine, or ``None``."""
    import pyproj

    dirs = [os.environ.get("PROJ_DATA"), os.environ.get("PROJ_LIB"), pyproj.datadir.get_data_dir(),
            *EXTRA_DIRS, pyproj.datadir.get_user_data_dir()]
    for d in dirs:
        for name in GRID_NAMES:
            if d and (Path(d) / name).is_file():
                return Path(d) / name
    return None


@lru_cache(maxsize=1)
def _transformer():
    path = grid_path()
    if path is None:
        raise PlanFileError(
            "EGM96 heights need NGA's EGM96 geoid grid (us_nga_egm96_15.tif or egm96_15.gtx), "
            "which is not installed: on Debian/Ubuntu `apt-get install proj-data`, or put the "
            "file in PROJ_DATA; a route with heights relative to take-off needs no geoid")
    from pyproj import Transformer

    # lat/lon in degrees, H above the geoid -> h above the ellipsoid (vgridshift adds N).
    return Transformer.from_pipeline(
        "+proj=pipeline +step +proj=axisswap +order=2,1 "
        "+step +proj=unitconvert +xy_in=deg +xy_out=rad "
        f"+step +proj=vgridshift +grids={path} +multiplier=1 "
        "+step +proj=unitconvert +xy_in=rad +xy_out=deg +step +proj=axisswap +order=2,1")


def geoid_height(lat: float, lon: float) -> float:
    """EGM96 geoid height ``N`` (metres above the WGS84 ellipsoid) at ``lat``, ``lon``."""
    _, _, n = _transformer().transform(float(lat), float(lon), 0.0)
    if not math.isfinite(n):
        raise PlanFileError(f"no EGM96 geoid height at {lat:.6f},{lon:.6f}")
    return float(n)


def ellipsoid_height(lat: float, lon: float, egm96_m: float) -> float:
    """WGS84 ellipsoid height of a point ``egm96_m`` metres above the EGM96 geoid."""
    return float(egm96_m) + geoid_height(lat, lon)


def egm96_height(lat: float, lon: float, ellipsoid_m: float) -> float:
    """Height above the EGM96 geoid of a point ``ellipsoid_m`` metres above the ellipsoid."""
    return float(ellipsoid_m) - geoid_height(lat, lon)
