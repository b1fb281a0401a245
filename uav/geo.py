"""Geodesy: WGS84 in and out, metric work in the local UTM zone.

Planning and georeferencing need metres that are really metres, so geometry is projected to
the UTM zone of the area (pyproj), worked on there, and projected back.  Distances between two
far-apart points use the WGS84 ellipsoid (``pyproj.Geod``), never a spherical shortcut.

Axis order: every function here takes and returns ``lon, lat`` for geometry (as GeoJSON and
shapely do) unless its name says ``latlon``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Geod, Transformer

from .errors import InvalidInputError

WGS84 = CRS.from_epsg(4326)
GEOD = Geod(ellps="WGS84")


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS84 UTM zone holding ``lon, lat`` (Norway/Svalbard quirks ignored)."""
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise InvalidInputError(f"not a WGS84 position: lon={lon}, lat={lat}")
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


@lru_cache(maxsize=64)
def _transformers(epsg: int) -> tuple[Transformer, Transformer]:
    crs = CRS.from_epsg(epsg)
    fwd = Transformer.from_crs(WGS84, crs, always_xy=True)
    inv = Transformer.from_crs(crs, WGS84, always_xy=True)
    return fwd, inv


@dataclass(frozen=True)
class LocalFrame:
    """A metric frame (a UTM zone) for work near one place.

    >>> f = LocalFrame.around(131.2, 43.1)
    >>> f.epsg
    32652
    """

    epsg: int

    @classmethod
    def around(cls, lon: float, lat: float) -> LocalFrame:
        return cls(utm_epsg(lon, lat))

    @classmethod
    def for_geometry(cls, geom: shapely.Geometry) -> LocalFrame:
        """The UTM zone of a lon/lat geometry's centroid."""
        if geom is None or geom.is_empty:
            raise InvalidInputError("cannot pick a UTM zone for an empty geometry")
        c = geom.centroid
        return cls.around(c.x, c.y)

    @property
    def crs(self) -> CRS:
        return CRS.from_epsg(self.epsg)

    def to_metric(self, lon, lat):
        """lon, lat (degrees; scalars or arrays) -> x, y (metres, easting/northing)."""
        fwd, _ = _transformers(self.epsg)
        return fwd.transform(lon, lat)

    def to_lonlat(self, x, y):
        """x, y (metres) -> lon, lat (degrees)."""
        _, inv = _transformers(self.epsg)
        return inv.transform(x, y)

    def geom_to_metric(self, geom: shapely.Geometry) -> shapely.Geometry:
        fwd, _ = _transformers(self.epsg)
        return shapely.transform(geom, lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1])))

    def geom_to_lonlat(self, geom: shapely.Geometry) -> shapely.Geometry:
        _, inv = _transformers(self.epsg)
        return shapely.transform(geom, lambda xy: np.column_stack(inv.transform(xy[:, 0], xy[:, 1])))


def distance_m(lon1, lat1, lon2, lat2):
    """Ellipsoidal distance in metres between two lon/lat points (arrays allowed)."""
    _, _, dist = GEOD.inv(lon1, lat1, lon2, lat2)
    return dist


def bearing_deg(lon1, lat1, lon2, lat2):
    """Initial bearing from point 1 to point 2, degrees clockwise from north in [0, 360)."""
    az, _, _ = GEOD.inv(lon1, lat1, lon2, lat2)
    return np.mod(az, 360.0)


def offset_lonlat(lon, lat, east_m, north_m):
    """The point ``east_m`` east and ``north_m`` north of ``lon, lat`` along the ellipsoid."""
    dist = np.hypot(east_m, north_m)
    az = np.degrees(np.arctan2(east_m, north_m))
    lon2, lat2, _ = GEOD.fwd(lon, lat, az, dist)
    return lon2, lat2


def geodesic_area_m2(geom: shapely.Geometry) -> float:
    """Area of a lon/lat polygon on the ellipsoid, square metres."""
    area, _ = GEOD.geometry_area_perimeter(geom)
    return abs(area)


def parse_latlon(text: str) -> tuple[float, ...]:
    """Parse ``LAT,LON[,ALT[,HDG]]`` as written on the command line."""
    try:
        parts = tuple(float(p) for p in text.replace(" ", "").split(","))
    except ValueError:
        raise InvalidInputError(f"expected LAT,LON[,ALT[,HDG]] in degrees/metres, got {text!r}") from None
    if len(parts) < 2 or len(parts) > 4:
        raise InvalidInputError(f"expected LAT,LON[,ALT[,HDG]], got {text!r}")
    lat, lon = parts[0], parts[1]
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidInputError(f"{text!r} is not a latitude,longitude pair (latitude first)")
    return parts
