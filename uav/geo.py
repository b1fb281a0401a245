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
from pyproj import CRS, Geod, Proj, Transformer

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


@lru_cache(maxsize=64)
def _proj(epsg: int) -> Proj:
    return Proj(CRS.from_epsg(epsg))


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

    def north_and_scale(self, lon, lat):
        """Where true north points in this frame, and the frame's scale, at ``lon, lat``.

        Parameters
        ----------
        lon, lat : float or array_like
            Degrees.

        Returns
        -------
        north_deg : float or ndarray
            Grid bearing of true north, degrees clockwise from grid north (minus the meridian
            convergence: negative east of the zone's central meridian in the northern
            hemisphere).  A line of true bearing ``b`` has grid bearing ``b + north_deg``.
        scale : float or ndarray
            Metres of grid per metre on the ground (UTM: 0.9996 on the central meridian).
        """
        f = _proj(self.epsg).get_factors(lon, lat)
        return -f.meridian_convergence, f.meridional_scale

    def true_north_deg(self, lon, lat):
        """Grid bearing of true north at ``lon, lat`` (see :meth:`north_and_scale`)."""
        return self.north_and_scale(lon, lat)[0]

    def geom_to_metric(self, geom: shapely.Geometry) -> shapely.Geometry:
        fwd, _ = _transformers(self.epsg)
        return shapely.transform(geom, lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1])))

    def geom_to_lonlat(self, geom: shapely.Geometry) -> shapely.Geometry:
        _, inv = _transformers(self.epsg)
        return shapely.transform(geom, lambda xy: np.column_stack(inv.transform(xy[:, 0], xy[:, 1])))


_RAD = np.pi / 180.0


@dataclass(frozen=True)
class TangentPlane:
    """Metres east/north of a reference point on its tangent plane, and back.

    For work that needs true north and speed more than a map projection: the built-in copter
    flies in it at every physics step.  Accurate to centimetres over the few kilometres a sortie
    covers (the ellipsoid's radii of curvature at the reference latitude).  Scalars or arrays.

    >>> p = TangentPlane(131.2, 43.1)
    >>> [round(v, 6) for v in p.to_lonlat(*p.to_metric(131.21, 43.11))]
    [131.21, 43.11]
    """

    lon0: float
    lat0: float

    def __post_init__(self):
        s = np.sin(self.lat0 * _RAD)
        w = np.sqrt(1.0 - GEOD.es * s * s)
        # metres per radian of latitude (meridian radius) and of longitude (parallel radius)
        object.__setattr__(self, "_m_lat", float(GEOD.a * (1.0 - GEOD.es) / w**3))
        object.__setattr__(self, "_m_lon", float(GEOD.a / w * np.cos(self.lat0 * _RAD)))

    def to_metric(self, lon, lat):
        """lon, lat (degrees) -> east, north (metres from the reference point)."""
        return (lon - self.lon0) * _RAD * self._m_lon, (lat - self.lat0) * _RAD * self._m_lat

    def to_lonlat(self, east, north):
        """east, north (metres) -> lon, lat (degrees)."""
        return self.lon0 + east / (_RAD * self._m_lon), self.lat0 + north / (_RAD * self._m_lat)

    def latlon_at(self, north, east):
        """(lat, lon) of the point ``north``, ``east`` metres away: MAVLink's order."""
        lon, lat = self.to_lonlat(east, north)
        return lat, lon


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
    """Parse ``LAT,LON[,ALT[,HDG]]`` as written on the command line (the one parser for it).

    Returns
    -------
    tuple of float
        ``(lat, lon)``, ``(lat, lon, alt)`` or ``(lat, lon, alt, heading)`` as given.

    Raises
    ------
    InvalidInputError
        Not numbers, the wrong count, or a position off the globe (often lon,lat swapped).
    """
    example = "e.g. 43.1056,131.8735,40,0"
    try:
        parts = tuple(float(p) for p in text.replace(" ", "").split(","))
    except ValueError:
        raise InvalidInputError(f"expected LAT,LON[,ALT[,HDG]] in degrees/metres, got {text!r} "
                                f"({example})") from None
    if len(parts) < 2 or len(parts) > 4:
        raise InvalidInputError(f"expected LAT,LON[,ALT[,HDG]], got {text!r} ({example})")
    lat, lon = parts[0], parts[1]
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidInputError(f"{text!r} is not a latitude,longitude pair: latitude must be "
                                "-90..90 and longitude -180..180 (latitude first)")
    return parts
