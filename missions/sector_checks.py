"""Check a sector or exclusion zone before anyone plans over it.

Empty, broken (self-intersecting), swapped lat/lon, in the sea, or absurdly large or small
polygons are refused with an :class:`~uav.errors.InvalidSectorError` that says what is wrong
and where (the place of a self-crossing as latitude/longitude).
"""

from __future__ import annotations

import re

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.validation import explain_validity

from uav.errors import InvalidSectorError
from uav.geo import geodesic_area_m2

MAX_SECTOR_KM2 = 20_000.0   # ~8x the Land of the Leopard park: beyond that it is not a sector
MIN_SECTOR_M2 = 100.0       # a 10 m x 10 m square: smaller is a digitising slip

_VALIDITY = re.compile(r"^(?P<reason>[^\[]+)\[(?P<x>[-\d.eE+]+)\s+(?P<y>[-\d.eE+]+)")
_REASONS = {
    "Self-intersection": "its boundary crosses itself",
    "Ring Self-intersection": "its boundary touches itself",
    "Hole lies outside shell": "a hole lies outside the outer boundary",
    "Nested shells": "one part lies inside another",
    "Interior is disconnected": "a hole cuts the area in two",
    "Too few points": "a ring has fewer than 4 points",
    "Nested holes": "a hole lies inside another hole",
    "Duplicate Rings": "a ring is repeated",
}


def as_polygonal(geom: shapely.Geometry) -> shapely.Geometry | None:
    if isinstance(geom, Polygon | MultiPolygon):
        return geom
    if isinstance(geom, shapely.GeometryCollection):
        polys = [g for g in shapely.get_parts(geom) if isinstance(g, Polygon | MultiPolygon)]
        if polys:
            parts = []
            for p in polys:
                parts.extend(shapely.get_parts(p))
            return MultiPolygon(parts) if len(parts) > 1 else parts[0]
    return None


def _fmt_latlon(lon: float, lat: float) -> str:
    return f"lat {lat:.5f}, lon {lon:.5f}"


def _sample_points(geom: shapely.Geometry, n_grid: int = 12, max_vertices: int = 200):
    """Points inside and on ``geom`` (lon, lat arrays) to test against the land mask."""
    coords = shapely.get_coordinates(geom)
    if len(coords) > max_vertices:
        coords = coords[np.linspace(0, len(coords) - 1, max_vertices).astype(int)]
    minx, miny, maxx, maxy = geom.bounds
    gx, gy = np.meshgrid(np.linspace(minx, maxx, n_grid + 2)[1:-1],
                         np.linspace(miny, maxy, n_grid + 2)[1:-1])
    gx, gy = gx.ravel(), gy.ravel()
    inside = shapely.contains_xy(geom, gx, gy)
    rep = geom.representative_point()
    lon = np.concatenate([coords[:, 0], gx[inside], [rep.x]])
    lat = np.concatenate([coords[:, 1], gy[inside], [rep.y]])
    return lon, lat


def check_ranges(geom, where: str) -> None:
    coords = shapely.get_coordinates(geom)
    xs, ys = coords[:, 0], coords[:, 1]
    if np.abs(xs).max() > 180 or np.abs(ys).max() > 180:
        big = coords[np.argmax(np.abs(coords).max(axis=1))]
        raise InvalidSectorError(
            f"{where}: coordinates like ({big[0]:.1f}, {big[1]:.1f}) are not degrees; the file "
            "seems to be in a projected CRS (metres) without saying so. Save it as WGS84 "
            "(EPSG:4326), or add the missing .prj / CRS")
    if np.abs(ys).max() > 90:
        bad = coords[np.argmax(np.abs(ys))]
        raise InvalidSectorError(
            f"{where}: latitude/longitude look swapped: a point has latitude {bad[1]:.5f} "
            f"(beyond ±90) and longitude {bad[0]:.5f}. GeoJSON, KML and shapefiles store "
            "longitude first (lon, lat); this file seems to have lat, lon")
    if not np.isfinite(coords).all():
        raise InvalidSectorError(f"{where}: has coordinates that are not numbers (NaN/inf)")


def _check_land(geom, where: str) -> None:
    from . import landmask

    if not landmask.available():
        return  # without the mask the check is skipped rather than guessed
    lon, lat = _sample_points(geom)
    if landmask.is_land(lon, lat).any():
        return
    rep = geom.representative_point()
    here = _fmt_latlon(rep.x, rep.y)
    if np.abs(lon).max() <= 90:
        if landmask.is_land(lat, lon).any():
            raise InvalidSectorError(
                f"{where}: latitude/longitude look swapped: as given the area lies in the sea "
                f"({here}), but with the two swapped it would be on land "
                f"({_fmt_latlon(rep.y, rep.x)}). GeoJSON, KML and shapefiles store longitude "
                "first (lon, lat)")
    raise InvalidSectorError(
        f"{where}: lies entirely in the sea ({here}); check the coordinates (longitude first) "
        "and the file's CRS")


def validate_sector(geom, where: str = "sector", *, allow_sea: bool = False) -> shapely.Geometry:
    """Check an area (sector or exclusion zone) and return it as a (Multi)Polygon, lon/lat.

    Parameters
    ----------
    geom : shapely geometry
        Polygon or MultiPolygon (holes allowed) in WGS84 lon/lat.
    where : str
        Where the geometry came from (``"file.geojson: feature 2 'Sector 7'"``), put in messages.
    allow_sea : bool
        Accept areas with no land at all (a lake or coastal water survey).

    Raises
    ------
    InvalidSectorError
        Empty, not a polygon, invalid (self-intersecting etc., with the place), coordinates out
        of range or in the sea (swapped lat/lon), or an area above 20,000 km² or below 100 m².
    """
    if geom is None or geom.is_empty:
        raise InvalidSectorError(f"{where}: the area is empty (no coordinates)")
    poly = as_polygonal(geom)
    if poly is None:
        raise InvalidSectorError(f"{where}: is a {geom.geom_type}, not a polygon; a sector or "
                                 "exclusion zone must be an area")
    if poly.is_empty:
        raise InvalidSectorError(f"{where}: the area is empty (no coordinates)")
    check_ranges(poly, where)
    if not poly.is_valid:
        reason = explain_validity(poly)
        m = _VALIDITY.match(reason)
        if m:
            what = m.group("reason").strip()
            text = _REASONS.get(what, what.lower())
            raise InvalidSectorError(
                f"{where}: not a valid polygon: {text} near "
                f"{_fmt_latlon(float(m.group('x')), float(m.group('y')))} ({what}). Redraw the "
                "boundary there (QGIS: Vector > Geometry Tools > Check Validity / Fix Geometries)")
        raise InvalidSectorError(f"{where}: not a valid polygon: {reason}")
    if not allow_sea:
        _check_land(poly, where)
    area = geodesic_area_m2(poly)
    if area > MAX_SECTOR_KM2 * 1e6:
        raise InvalidSectorError(
            f"{where}: is {area / 1e6:,.0f} km², larger than any sector a quadcopter can cover "
            f"(limit {MAX_SECTOR_KM2:,.0f} km²); is it a whole region, or in the wrong units/CRS?")
    if area < MIN_SECTOR_M2:
        raise InvalidSectorError(
            f"{where}: is only {area:,.1f} m², too small to plan over (limit {MIN_SECTOR_M2:.0f} "
            "m²); is it a digitising slip, or in the wrong units/CRS?")
    return poly


__all__ = ["MAX_SECTOR_KM2", "MIN_SECTOR_M2", "as_polygonal", "check_ranges", "validate_sector"]
