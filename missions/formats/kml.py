"""KML and KMZ for Google Earth: sector, exclusions, fence, each sortie's flight path, imaging
legs, optional photo positions, home and rally points.

Folders group what belongs together; each flight path is a 3-D ``LineString`` with the altitude
mode its items call for (see :mod:`missions.formats.layers`); areas are clamped to the ground.
A ``.kmz`` is the same document zipped as ``doc.kml``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import shapely

from uav.errors import PlanFileError
from uav.files import write_atomic

from .layers import CLAMP, plan_shapes

KML_NS = "http://www.opengis.net/kml/2.2"

_STYLES = {  # role: (line colour aabbggrr, width, fill colour or None)
    "sector": ("ff00ff00", 2.0, "3300ff00"),
    "exclusion": ("ff0000ff", 2.0, "550000ff"),
    "fence_inclusion": ("ff00ffff", 2.5, None),
    "fence_exclusion": ("ff0080ff", 2.5, "330080ff"),
    "flight_path": ("ffffff00", 2.0, None),
    "imaging_leg": ("ffff00ff", 3.0, None),
    "home": ("ffffffff", 1.0, None),
    "rally": ("ff00ffff", 1.0, None),
    "photo": ("ffffffff", 1.0, None),
    "waypoint": ("ffffff00", 1.0, None),
    "fence_return": ("ff00ffff", 1.0, None),
}
_FOLDERS = [
    ("Areas", ("sector", "exclusion")),
    ("Geofence", ("fence_inclusion", "fence_exclusion", "fence_return")),
    ("Rally points", ("rally",)),
    ("Flight", ("flight_path", "home")),
    ("Imaging legs", ("imaging_leg",)),
    ("Photo positions", ("photo",)),
]


def _sub(parent, tag, text=None, **attrs):
    el = ET.SubElement(parent, f"{{{KML_NS}}}{tag}", attrs)
    if text is not None:
        el.text = str(text)
    return el


def _coords(seq, with_z: bool) -> str:
    if with_z:
        return " ".join(f"{x:.8f},{y:.8f},{z:.2f}" for x, y, z in seq)
    return " ".join(f"{x:.8f},{y:.8f}" for x, y, *_ in seq)


def _geometry(parent, geom, altitude_mode: str) -> None:
    with_z = altitude_mode != CLAMP and shapely.has_z(geom)
    kind = geom.geom_type
    if kind in ("MultiPolygon", "MultiLineString", "MultiPoint", "GeometryCollection"):
        multi = _sub(parent, "MultiGeometry")
        for part in shapely.get_parts(geom):
            _geometry(multi, part, altitude_mode)
        return
    el = _sub(parent, {"Polygon": "Polygon", "LineString": "LineString", "Point": "Point",
                       "LinearRing": "LinearRing"}[kind])
    # KML 2.2 schema order: tessellate, altitudeMode, then the coordinates/boundaries.
    if kind == "LineString":
        _sub(el, "tessellate", "1" if altitude_mode == CLAMP else "0")
    elif kind == "Polygon":
        _sub(el, "tessellate", "1")
    _sub(el, "altitudeMode", altitude_mode)
    if kind == "Polygon":
        outer = _sub(_sub(el, "outerBoundaryIs"), "LinearRing")
        _sub(outer, "coordinates", _coords(geom.exterior.coords, False))
        for hole in geom.interiors:
            inner = _sub(_sub(el, "innerBoundaryIs"), "LinearRing")
            _sub(inner, "coordinates", _coords(hole.coords, False))
    elif kind == "Point":
        _sub(el, "coordinates", _coords([geom.coords[0]], with_z))
    else:
        _sub(el, "coordinates", _coords(geom.coords, with_z))


def kml_document(plan, *, photos: bool = False) -> ET.Element:
    """The KML tree for ``plan``."""
    ET.register_namespace("", KML_NS)
    root = ET.Element(f"{{{KML_NS}}}kml")
    doc = _sub(root, "Document")
    _sub(doc, "name", plan.name or f"{plan.kind.value} plan")
    stats = plan.stats
    desc = [f"kind: {plan.kind.value}", f"altitude mode: {plan.altitude_mode.value}",
            f"sorties: {len(plan.sorties)}"]
    if stats and stats.distance_m:
        desc.append(f"distance: {stats.distance_m / 1000:.2f} km")
    if stats and stats.flight_time_s:
        desc.append(f"flight time: {stats.flight_time_s / 60:.1f} min")
    _sub(doc, "description", "; ".join(desc))
    for role, (line, width, fill) in _STYLES.items():
        style = _sub(doc, "Style", id=role)
        ls = _sub(style, "LineStyle")
        _sub(ls, "color", line)
        _sub(ls, "width", width)
        ps = _sub(style, "PolyStyle")
        _sub(ps, "color", fill or "00000000")
        _sub(ps, "fill", "1" if fill else "0")
    shapes = [s for s in plan_shapes(plan, photos=photos) if s.role != "waypoint"]
    for title, roles in _FOLDERS:
        members = [s for s in shapes if s.role in roles]
        if not members:
            continue
        folder = _sub(doc, "Folder")
        _sub(folder, "name", title)
        if title == "Photo positions":
            _sub(folder, "visibility", "0")   # thousands of pins: off until asked for
        for s in members:
            pm = _sub(folder, "Placemark")
            _sub(pm, "name", s.name)
            _sub(pm, "styleUrl", f"#{s.role}")
            ext = _sub(pm, "ExtendedData")
            props = {"role": s.role, **({"sortie": s.sortie} if s.sortie else {}), **s.properties}
            for key, value in props.items():
                data = _sub(ext, "Data", name=str(key))
                _sub(data, "value", value)
            _geometry(pm, s.geometry, s.altitude_mode)
    return root


def kml_bytes(plan, *, photos: bool = False) -> bytes:
    tree = kml_document(plan, photos=photos)
    ET.indent(tree, space=" ")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(tree, encoding="utf-8")


def write_kml(plan, path, *, photos: bool = False) -> Path:
    """Write ``plan`` as KML, or as KMZ when ``path`` ends in ``.kmz``; returns the path."""
    path = Path(path)
    data = kml_bytes(plan, photos=photos)
    if path.suffix.lower() == ".kmz":
        def kmz(tmp):
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                zf.writestr("doc.kml", data)

        return write_atomic(path, kmz, error=PlanFileError)
    return write_atomic(path, data, error=PlanFileError)
