"""RFC 7946 (GeoJSON) rules that GDAL reads past but strict consumers hold a file to: no ``crs``
member (section 4: WGS 84 longitude, latitude only), positions as [longitude, latitude(,
height)] (3.1.1), closed linear rings of four or more positions (3.1.6), exterior rings
counterclockwise and holes clockwise (3.1.6), a ``bbox`` of 2*n numbers (5)."""

from __future__ import annotations

__all__ = ["rfc7946_problems"]

_TYPES = {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon",
          "GeometryCollection"}


def _signed_area(ring) -> float:
    """Shoelace on (lon, lat): positive when counterclockwise."""
    return sum(x0 * y1 - x1 * y0 for (x0, y0, *_), (x1, y1, *_) in zip(ring, ring[1:], strict=False)) / 2


def _position(p, where, bounds, out):
    if not (isinstance(p, list) and len(p) in (2, 3) and all(isinstance(v, int | float) for v in p)):
        out.append(f"{where}: a position must be [lon, lat] or [lon, lat, height], got {p!r}")
        return
    lon, lat = p[0], p[1]
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        out.append(f"{where}: {p[:2]} is not longitude, latitude")
    elif bounds and not (bounds[0] <= lon <= bounds[2] and bounds[1] <= lat <= bounds[3]):
        out.append(f"{where}: {p[:2]} lies outside {bounds} (latitude and longitude swapped?)")


def _polygon(rings, where, bounds, out):
    for i, ring in enumerate(rings):
        w = f"{where} ring {i}"
        if len(ring) < 4 or ring[0] != ring[-1]:
            out.append(f"{w}: not a closed ring of 4 or more positions")
            continue
        for p in ring:
            _position(p, w, bounds, out)
        area = _signed_area(ring)
        if i == 0 and area < 0:
            out.append(f"{w}: exterior ring is clockwise (RFC 7946 wants counterclockwise)")
        if i > 0 and area > 0:
            out.append(f"{w}: hole is counterclockwise (RFC 7946 wants clockwise)")


def _geometry(g, where, bounds, out):
    if g is None:
        return   # a Feature may have no geometry (RFC 7946 3.2)
    t = g.get("type")
    if t not in _TYPES:
        out.append(f"{where}: unknown geometry type {t!r}")
        return
    if "crs" in g:
        out.append(f"{where}: has a 'crs' member")
    c = g.get("coordinates")
    if t == "Point":
        _position(c, where, bounds, out)
    elif t in ("MultiPoint", "LineString"):
        for p in c:
            _position(p, where, bounds, out)
        if t == "LineString" and len(c) < 2:
            out.append(f"{where}: a LineString needs two or more positions")
    elif t == "MultiLineString":
        for line in c:
            for p in line:
                _position(p, where, bounds, out)
    elif t == "Polygon":
        _polygon(c, where, bounds, out)
    elif t == "MultiPolygon":
        for j, poly in enumerate(c):
            _polygon(poly, f"{where} polygon {j}", bounds, out)
    else:
        for j, sub in enumerate(g.get("geometries", [])):
            _geometry(sub, f"{where} member {j}", bounds, out)


def rfc7946_problems(doc: dict, bounds: tuple[float, float, float, float] | None = None) -> list[str]:
    """What in a GeoJSON document breaks RFC 7946; ``bounds`` (lon0, lat0, lon1, lat1), where
    every position must lie, catches latitude and longitude written the wrong way round."""
    out: list[str] = []
    if "crs" in doc:
        out.append("the FeatureCollection has a 'crs' member (RFC 7946 removed it)")
    bbox = doc.get("bbox")
    if bbox is not None and len(bbox) not in (4, 6):
        out.append(f"bbox must hold 4 or 6 numbers, not {bbox!r}")
    if doc.get("type") == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            return out + ["a FeatureCollection needs a 'features' array"]
    elif doc.get("type") == "Feature":
        features = [doc]
    else:
        features = [{"type": "Feature", "geometry": doc, "properties": None}]
    for i, f in enumerate(features):
        if f.get("type") != "Feature" or "geometry" not in f or "properties" not in f:
            out.append(f"feature {i}: needs type 'Feature', 'geometry' and 'properties' members")
        if "crs" in f:
            out.append(f"feature {i}: has a 'crs' member")
        _geometry(f.get("geometry"), f"feature {i}", bounds, out)
    return out
