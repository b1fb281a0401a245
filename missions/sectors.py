"""Read park sectors, exclusion zones, routes and lookout points from GIS files.

Formats: GeoJSON, KML, KMZ, ESRI Shapefile, GeoPackage (anything GDAL reads, through
pyogrio; KML/KMZ also without GDAL's KML drivers).  Everything comes back as shapely geometry
in WGS84 **lon, lat** order, whatever CRS the file used.

A sector is checked before anyone plans over it (:func:`missions.sector_checks.validate_sector`):
empty, broken (self-intersecting), swapped lat/lon, in the sea, or absurdly large or small
polygons are refused with an :class:`~uav.errors.InvalidSectorError` that says what is wrong and
where.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from uav.errors import InvalidInputError, InvalidSectorError

from .sector_checks import (
    as_polygonal,
    check_ranges,
    validate_sector,
)

NAME_FIELDS = ("name", "Name", "NAME", "title", "Title")
SUFFIX_DRIVERS = {
    ".geojson": "GeoJSON", ".json": "GeoJSON", ".kml": "KML", ".kmz": "KMZ",
    ".shp": "ESRI Shapefile", ".gpkg": "GeoPackage",
}


@dataclass
class Feature:
    """One feature of a file: geometry (WGS84 lon/lat), attributes, and where it came from."""

    geometry: shapely.Geometry | None
    properties: dict = field(default_factory=dict)
    index: int = 0          # 1-based position in its layer, as a ranger would count
    layer: str = ""
    source: str = ""

    @property
    def name(self) -> str | None:
        for key in NAME_FIELDS:
            value = self.properties.get(key)
            if value not in (None, ""):
                return str(value)
        return None

    @property
    def where(self) -> str:
        label = f"feature {self.index}"
        if self.name:
            label += f" {self.name!r}"
        if self.layer and self.layer not in (Path(self.source).stem, ""):
            label += f" of layer {self.layer!r}"
        return f"{self.source}: {label}"


# --------------------------------------------------------------------------------------------
# reading files
# --------------------------------------------------------------------------------------------
def _check_path(path, error) -> Path:
    path = Path(path)
    if not path.exists():
        raise error(f"file not found: {path}")
    if path.is_dir() and path.suffix.lower() != ".gdb":
        raise error(f"{path} is a folder, not a GIS file")
    if path.is_file() and path.stat().st_size == 0:
        raise error(f"{path} is empty (0 bytes)")
    return path


def _to_wgs84(geoms: np.ndarray, crs_text: str | None, path: Path, error) -> np.ndarray:
    """Reproject to WGS84 lon/lat when the file declares another CRS."""
    if crs_text is None:
        return geoms
    from pyproj import CRS, Transformer

    try:
        crs = CRS.from_user_input(crs_text)
    except Exception:  # noqa: BLE001 - pyproj raises several types for bad CRS text
        raise error(f"{path}: its coordinate reference system cannot be understood") from None
    if crs.is_geographic and crs.to_epsg() in (4326, None) and crs.ellipsoid is not None \
            and crs.ellipsoid.name.startswith("WGS 84"):
        return geoms
    if crs.equals(CRS.from_epsg(4326), ignore_axis_order=True):
        return geoms
    tr = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)

    def fwd(xy):
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return np.array([None if g is None else shapely.transform(g, fwd) for g in geoms], dtype=object)


def _read_ogr(path: Path, error) -> list[Feature]:
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError

    try:
        layers = pyogrio.list_layers(str(path))
    except (DataSourceError, DataLayerError, OSError) as exc:
        raise error(f"cannot read {path}: not a readable {_kind(path)} file ({_short(exc)})") from None
    features: list[Feature] = []
    for layer_name, _geom_type in layers:
        try:
            meta, _fids, wkb, field_data = pyogrio.raw.read(str(path), layer=layer_name)
        except (DataSourceError, DataLayerError, OSError) as exc:
            raise error(f"cannot read layer {layer_name!r} of {path}: {_short(exc)}") from None
        if wkb is None:
            continue
        geoms = np.array([None if b is None else shapely.from_wkb(b) for b in wkb], dtype=object)
        geoms = _to_wgs84(geoms, meta.get("crs"), path, error)
        names = list(meta.get("fields", []))
        for i, g in enumerate(geoms):
            props = {}
            for name, column in zip(names, field_data, strict=True):
                value = column[i]
                if hasattr(value, "item"):
                    value = value.item()
                props[str(name)] = value
            if g is not None and shapely.get_coordinate_dimension(g) > 2:
                g = shapely.force_2d(g)
            features.append(Feature(g, props, i + 1, str(layer_name), str(path)))
    return features


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _kind(path: Path) -> str:
    return SUFFIX_DRIVERS.get(path.suffix.lower(), path.suffix.lstrip(".").upper() or "GIS")


# KML without GDAL: Placemarks with Polygon / MultiGeometry / LineString / Point.
_KML_NS = re.compile(r"^\{[^}]*\}")


def _local(tag: str) -> str:
    return _KML_NS.sub("", tag)


def _kml_coords(text: str | None) -> list[tuple[float, float]]:
    out = []
    for token in (text or "").split():
        parts = token.split(",")
        if len(parts) >= 2:
            out.append((float(parts[0]), float(parts[1])))  # KML is lon,lat[,alt]
    return out


def _kml_geometry(elem) -> shapely.Geometry | None:
    tag = _local(elem.tag)
    if tag == "Point":
        c = _kml_coords(_find_text(elem, "coordinates"))
        return Point(c[0]) if c else None
    if tag == "LineString":
        return LineString(_kml_coords(_find_text(elem, "coordinates")))
    if tag == "Polygon":
        shell, holes = [], []
        for child in elem:
            ctag = _local(child.tag)
            if ctag in ("outerBoundaryIs", "innerBoundaryIs"):
                ring = _kml_coords(_find_text(child, "coordinates"))
                (holes.append(ring) if ctag == "innerBoundaryIs" else shell.extend(ring))
        return Polygon(shell, holes) if shell else Polygon()
    if tag == "MultiGeometry":
        parts = [g for g in (_kml_geometry(c) for c in elem) if g is not None]
        if parts and all(isinstance(p, Polygon) for p in parts):
            return MultiPolygon(parts)
        return shapely.GeometryCollection(parts)
    return None


def _find_text(elem, name: str) -> str | None:
    for node in elem.iter():
        if _local(node.tag) == name:
            return node.text
    return None


def read_kml_text(text: bytes | str, source: str = "KML") -> list[Feature]:
    """Features of a KML document (without GDAL), lon/lat."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise InvalidSectorError(f"cannot read {source}: not valid KML ({exc})") from None
    features = []
    for i, pm in enumerate((e for e in root.iter() if _local(e.tag) == "Placemark"), start=1):
        props: dict = {}
        for child in pm:
            ctag = _local(child.tag)
            if ctag in ("name", "description") and child.text:
                props[ctag] = child.text.strip()
            elif ctag == "ExtendedData":
                for data in child.iter():
                    dtag = _local(data.tag)
                    if dtag in ("Data", "SimpleData") and data.get("name"):
                        value = data.text if dtag == "SimpleData" else _find_text(data, "value")
                        props[data.get("name")] = value
        geom = None
        for child in pm:
            geom = _kml_geometry(child)
            if geom is not None:
                break
        features.append(Feature(geom, props, i, "", source))
    return features


def _read_kml_fallback(path: Path, error) -> list[Feature]:
    if path.suffix.lower() == ".kmz":
        try:
            with zipfile.ZipFile(path) as zf:
                names = [n for n in zf.namelist() if n.lower().endswith(".kml")]
                if not names:
                    raise error(f"{path} is a KMZ without a .kml document inside")
                inner = "doc.kml" if "doc.kml" in names else names[0]
                text = zf.read(inner)
        except zipfile.BadZipFile:
            raise error(f"cannot read {path}: not a valid KMZ (zip) file") from None
    else:
        text = path.read_bytes()
    return read_kml_text(text, str(path))


def _ogr_has(driver: str) -> bool:
    try:
        import pyogrio

        return driver in pyogrio.list_drivers()
    except Exception:  # noqa: BLE001 - any import/driver problem means "no"
        return False


def read_features(path, *, error=InvalidSectorError) -> list[Feature]:
    """Every feature of every layer in a GIS file, geometry in WGS84 lon/lat.

    Parameters
    ----------
    path : str or Path
        GeoJSON, KML, KMZ, Shapefile (``.shp``), GeoPackage, or any other vector file GDAL reads.
    error : type
        The exception class to raise for unreadable files.
    """
    path = _check_path(path, error)
    suffix = path.suffix.lower()
    if suffix in (".kml", ".kmz") and not (_ogr_has("LIBKML") or (suffix == ".kml" and _ogr_has("KML"))):
        return _read_kml_fallback(path, error)
    try:
        features = _read_ogr(path, error)
    except error:
        if suffix in (".kml", ".kmz"):
            return _read_kml_fallback(path, error)
        raise
    return features


# --------------------------------------------------------------------------------------------
# public readers
# --------------------------------------------------------------------------------------------
def _area_features(features: list[Feature]) -> list[Feature]:
    return [f for f in features if f.geometry is not None and as_polygonal(f.geometry) is not None]


def _refuse_no_area(features: list[Feature], path, what: str):
    empty = [f for f in features if f.geometry is None or f.geometry.is_empty]
    if empty:
        raise InvalidSectorError(f"{empty[0].where}: the area is empty (no coordinates)")
    kinds = sorted({f.geometry.geom_type for f in features})
    raise InvalidSectorError(
        f"{path}: no polygon in the file (found {', '.join(kinds) or 'no features at all'}); "
        f"{what} must be an area")


def _names_list(features: list[Feature]) -> str:
    names = [f.name for f in features if f.name]
    return ", ".join(repr(n) for n in names) if names else "(none has a name)"


def _parse_where(where: str) -> tuple[str, str]:
    if "=" not in where:
        raise InvalidSectorError(f"--where must look like field=value, got {where!r}")
    key, value = where.split("=", 1)
    return key.strip(), value.strip().strip("'\"")


def select_features(features: list[Feature], path, name=None, where=None) -> list[Feature]:
    """The features chosen by ``name`` (the name field) and/or ``where`` (``field=value``)."""
    chosen = features
    if name is not None:
        exact = [f for f in chosen if f.name == name]
        loose = [f for f in chosen if f.name and f.name.strip().casefold() == name.strip().casefold()]
        chosen = exact or loose or _prefix_matches(chosen, name)
        if not chosen:
            raise InvalidSectorError(
                f"{path}: no sector named {name!r}; the file has: {_names_list(features)}")
        if len({f.name for f in chosen}) > 1:
            raise InvalidSectorError(
                f"{path}: {name!r} matches several sectors ({_names_list(chosen)}); give the full name")
    if where is not None:
        key, value = _parse_where(where)
        fields = sorted({k for f in features for k in f.properties})
        if key not in fields:
            raise InvalidSectorError(
                f"{path}: no field {key!r} to select on; fields: {', '.join(fields) or '(none)'}")
        chosen = [f for f in chosen if str(f.properties.get(key)) == value
                  or _numeric_equal(f.properties.get(key), value)]
        if not chosen:
            present = sorted({str(f.properties.get(key)) for f in features})
            raise InvalidSectorError(
                f"{path}: no feature has {key} = {value!r}; values present: {', '.join(present)}")
    return chosen


def _prefix_matches(features: list[Feature], name: str) -> list[Feature]:
    """Features whose name starts with ``name`` as whole words ("Sector 7" picks
    "Sector 7 — Narva valley", never "Sector 70"), case-insensitive."""
    key = name.strip().casefold()
    if not key:
        return []
    out = []
    for f in features:
        full = (f.name or "").strip().casefold()
        if full.startswith(key) and (len(full) == len(key) or not full[len(key)].isalnum()):
            out.append(f)
    return out


def _numeric_equal(a, b: str) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return False


def read_named_sector(path, name: str | None = None, where: str | None = None, *,
                      allow_sea: bool = False) -> tuple[shapely.Geometry, str | None]:
    """The sector polygon of a GIS file, checked, in WGS84 lon/lat.

    Parameters
    ----------
    path : str or Path
        GeoJSON, KML, KMZ, Shapefile or GeoPackage.
    name : str, optional
        Pick the feature whose ``name``/``Name`` attribute matches (case-insensitive); a name
        that is the start of exactly the feature's name, in whole words, also matches
        (``"Sector 7"`` picks ``"Sector 7 — Narva valley"``).
    where : str, optional
        Pick features by attribute, ``"field=value"``; several matches are merged.
    allow_sea : bool
        Accept sectors with no land in them.

    Returns
    -------
    shapely.Polygon or shapely.MultiPolygon
        Holes and several parts are kept.
    str or None
        The sector's own name (its ``name`` attribute), when the chosen features have one.

    Raises
    ------
    InvalidSectorError
        File missing/unreadable, no polygon in it, unknown name (the message lists the names
        present), several named sectors and no choice, or a polygon :func:`validate_sector` refuses.
    """
    features = read_features(path)
    areas = _area_features(features)
    if not areas:
        _refuse_no_area(features, path, "a sector")
    chosen = select_features(areas, path, name, where)
    if name is None and where is None:
        named = {f.name for f in chosen if f.name}
        if len(chosen) > 1 and len(named) > 1:
            raise InvalidSectorError(
                f"{path}: holds {len(chosen)} sectors ({_names_list(chosen)}); pick one by name "
                "(--sector-name) or attribute (--where field=value)")
    parts = [validate_sector(f.geometry, f.where, allow_sea=allow_sea) for f in chosen]
    names = {f.name for f in chosen if f.name}
    own = names.pop() if len(names) == 1 else None
    if len(parts) == 1:
        return parts[0], own
    merged = shapely.union_all(parts)
    label = f"{path}: features {', '.join(str(f.index) for f in chosen)} merged"
    return validate_sector(merged, label, allow_sea=allow_sea), own


def read_sector(path, name: str | None = None, where: str | None = None, *,
                allow_sea: bool = False) -> shapely.Geometry:
    """The sector polygon of a GIS file, checked, in WGS84 lon/lat.

    As :func:`read_named_sector`, without the name.
    """
    return read_named_sector(path, name, where, allow_sea=allow_sea)[0]


def read_areas(path, *, allow_sea: bool = True) -> list[shapely.Geometry]:
    """Every area (exclusion zone) in a file, each checked, WGS84 lon/lat.

    Exclusion zones may lie partly on water (a lagoon, a strip of coast), so the sea check is off
    unless ``allow_sea=False``.
    """
    features = read_features(path)
    areas = _area_features(features)
    if not areas:
        _refuse_no_area(features, path, "an exclusion zone")
    return [validate_sector(f.geometry, f.where, allow_sea=allow_sea) for f in areas]


def read_route(path, name: str | None = None) -> LineString:
    """A route (road, river, border strip) as one LineString in WGS84 lon/lat.

    Several line features (or a MultiLineString) are joined end to end when they touch; a
    route in pieces that do not touch is refused.  :func:`read_named_route` also gives its name.
    """
    return read_named_route(path, name)[0]


def read_named_route(path, name: str | None = None) -> tuple[LineString, str | None]:
    """:func:`read_route`, and the route's own name (its ``name`` attribute) when it has one."""
    features = read_features(path, error=InvalidInputError)
    lines = [f for f in features if f.geometry is not None
             and f.geometry.geom_type in ("LineString", "MultiLineString")]
    if not lines:
        kinds = sorted({f.geometry.geom_type for f in features if f.geometry is not None})
        raise InvalidInputError(
            f"{path}: no line in the file (found {', '.join(kinds) or 'no geometry at all'}); a "
            "route must be a polyline")
    if name is not None:
        chosen = [f for f in lines if f.name and f.name.casefold() == name.casefold()]
        if not chosen:
            raise InvalidInputError(f"{path}: no route named {name!r}; the file has: {_names_list(lines)}")
        lines = chosen
    geom = shapely.line_merge(shapely.union_all([f.geometry for f in lines])) \
        if len(lines) > 1 or lines[0].geometry.geom_type == "MultiLineString" else lines[0].geometry
    where = lines[0].where if len(lines) == 1 else str(path)
    if geom.is_empty:
        raise InvalidInputError(f"{where}: the route is empty (no coordinates)")
    if geom.geom_type != "LineString":
        raise InvalidInputError(
            f"{where}: the route is in {len(shapely.get_parts(geom))} pieces that do not join; "
            "draw it as one continuous line")
    try:
        check_ranges(geom, where)
    except InvalidSectorError as exc:
        raise InvalidInputError(str(exc)) from None
    if geom.length == 0 or len(shapely.get_coordinates(geom)) < 2:
        raise InvalidInputError(f"{where}: the route has fewer than two distinct points")
    names = {f.name for f in lines if f.name}
    return geom, (names.pop() if len(names) == 1 else None)


def read_points(path) -> list[tuple[float, float, str]]:
    """Lookout points (salt licks, watch points) as ``(lon, lat, name)``; unnamed ones get
    ``"point N"``.  MultiPoints are split."""
    features = read_features(path, error=InvalidInputError)
    out: list[tuple[float, float, str]] = []
    for f in features:
        if f.geometry is None or f.geometry.geom_type not in ("Point", "MultiPoint"):
            continue
        parts = list(shapely.get_parts(f.geometry))
        for k, p in enumerate(parts, start=1):
            if p.is_empty:
                continue
            label = f.name or f"point {f.index}"
            if len(parts) > 1:
                label = f"{label} #{k}"
            try:
                check_ranges(p, f.where)
            except InvalidSectorError as exc:
                raise InvalidInputError(str(exc)) from None
            out.append((float(p.x), float(p.y), label))
    if not out:
        kinds = sorted({f.geometry.geom_type for f in features if f.geometry is not None})
        raise InvalidInputError(
            f"{path}: no point in the file (found {', '.join(kinds) or 'no geometry at all'}); "
            "lookouts must be points")
    return out
