"""Write a flight's reviewed flags as GeoJSON, KML, KMZ, CSV or SMART Connect incidents.

Every export carries each frame's SHA-256 next to its path, so whoever receives a flag can prove
later that the picture it came from is the one the analyst saw (the evidence chain).  Frames are
only ever opened for reading; crops for KMZ/SMART come from the review cache next to the
GeoPackage.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET

from uav.errors import ExportError, FrameError, InvalidInputError

from ..store.images import ImageCache
from ..store.read import FlightDB
from .common import (
    cell,
    kml_document,
    positioned,
    style_id,
    write_balloon_pictures,
    write_file,
)

FORMATS = ("geojson", "kml", "kmz", "csv", "smart")
STATUS_CHOICES = ("confirmed", "all")
CSV_COLUMNS = ["lat", "lon", "position_uncertainty_m", "time", "class", "score", "frame_path", "px_x0", "px_y0", "px_x1", "px_y1",
               "status", "note", "reviewer", "reviewed_at", "frame_sha256", "flag_id", "frame_name",
               "detector", "ground_size_m", "position_note"]


@dataclass
class ExportResult:
    """What an export wrote (and sent)."""

    path: Path
    fmt: str
    count: int                                          # sightings (or flags) written
    without_position: list[int] = field(default_factory=list)  # ids left out of map formats
    warnings: list[str] = field(default_factory=list)
    posted: int = 0                                     # SMART features accepted by the server
    uuids: list[str] = field(default_factory=list)      # SMART observation UUIDs, in file order


# --- shared helpers -----------------------------------------------------------------------------
def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:  # read-only: the original frame is never touched
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _Evidence:
    """Each frame's SHA-256: the stored one, computed when missing, checked when asked."""

    def __init__(self, verify: bool, warnings: list[str]):
        self.verify = verify
        self.warnings = warnings
        self._cache: dict[str, str | None] = {}

    def sha256(self, flag: dict) -> str | None:
        path = flag.get("frame_path")
        if path in self._cache:
            return self._cache[path]
        stored = flag.get("frame_sha256")
        value = stored
        p = Path(path) if path else None
        if p is not None and p.is_file() and (stored is None or self.verify):
            now = _sha256_file(p)
            if stored is not None and now != stored:
                self.warnings.append(f"frame {p} changed since processing: sha256 was {stored}, is now {now}; "
                                     "the export keeps the recorded hash")
            value = stored or now
        elif stored is None:
            self.warnings.append(f"frame {path} is missing and has no recorded sha256")
        self._cache[path] = value
        return value


def _select(db: FlightDB, status: str) -> list[dict]:
    if status not in STATUS_CHOICES:
        raise InvalidInputError(f"--status must be one of {', '.join(STATUS_CHOICES)}, not {status!r}")
    return db.all_flags(None if status == "all" else "confirmed")


def _round(v, digits: int):
    return None if v is None else round(float(v), digits)


def _properties(flag: dict, sha: str | None, flight: str) -> dict:
    # Rounded to what the numbers mean: 1e-8 degrees is ~1 mm, a tenth of a pixel, a centimetre.
    return {
        "flag_id": flag["fid"], "class": flag["cls"], "score": _round(flag["score"], 4), "status": flag["status"],
        "note": flag["note"], "reviewer": flag["reviewer"], "reviewed_at": flag["reviewed_at"],
        "time": flag["time"], "lat": _round(flag["lat"], 8), "lon": _round(flag["lon"], 8),
        "position_uncertainty_m": _round(flag.get("position_uncertainty_m"), 1),
        "frame_name": flag["frame_name"], "frame_path": flag["frame_path"], "frame_sha256": sha,
        "px_x0": _round(flag["px_x0"], 1), "px_y0": _round(flag["px_y0"], 1),
        "px_x1": _round(flag["px_x1"], 1), "px_y1": _round(flag["px_y1"], 1),
        "detector": flag["detector"], "ground_size_m": _round(flag["ground_size_m"], 2),
        "size_ok": None if flag["size_ok"] is None else bool(flag["size_ok"]),
        "position_note": flag["position_note"], "flight": flight,
    }


# --- GeoJSON --------------------------------------------------------------------------------------
def _geojson(db, flags, out, result, ev, **_):
    feats = []
    for f in positioned(flags, result):
        feats.append({"type": "Feature", "id": f["fid"],
                      "geometry": {"type": "Point", "coordinates": [round(f["lon"], 8), round(f["lat"], 8)]},
                      "properties": _properties(f, ev.sha256(f), db.path.name)})
    doc = {"type": "FeatureCollection", "name": f"{db.path.stem} flags", "features": feats}
    write_file(out, lambda p: p.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8"))
    result.count = len(feats)


# --- CSV ------------------------------------------------------------------------------------------
def _csv(db, flags, out, result, ev, **_):
    def write(p: Path):
        with open(p, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(CSV_COLUMNS)
            for f in flags:
                props = _properties(f, ev.sha256(f), db.path.name)
                row = []
                for col in CSV_COLUMNS:
                    v = props[col]
                    row.append(v if isinstance(v, (int, float)) else cell(v))
                w.writerow(row)

    write_file(out, write)
    result.count = len(flags)


# --- KML / KMZ ------------------------------------------------------------------------------------
def _kml_tree(db, flags, result, ev, images: dict[int, str] | None) -> ET.ElementTree:
    root, doc, k = kml_document(f"{db.path.stem} — flags", {f["cls"] for f in flags}, icon_scale=1.1)
    for f in positioned(flags, result):
        sha = ev.sha256(f)
        pm = ET.SubElement(doc, k("Placemark"), id=f"flag-{f['fid']}")
        ET.SubElement(pm, k("name")).text = f"{f['cls']} {f['score']:.2f} (#{f['fid']})"
        ET.SubElement(pm, k("styleUrl")).text = f"#cls-{style_id(f['cls'])}"
        if f["time"]:
            ts = ET.SubElement(pm, k("TimeStamp"))
            ET.SubElement(ts, k("when")).text = f["time"]
        # The balloon is HTML: every value is HTML-escaped here, and ElementTree escapes the
        # whole string again for XML, so a note can never inject markup into Google Earth.
        rows = [("status", f["status"]), ("reviewer", f["reviewer"]), ("note", f["note"]),
                ("time", f["time"]), ("frame", f["frame_name"]), ("frame path", f["frame_path"]),
                ("frame sha256", sha),
                ("pixel box", ", ".join(f"{f[c]:.0f}" for c in ("px_x0", "px_y0", "px_x1", "px_y1"))),
                ("lat, lon", f"{f['lat']:.6f}, {f['lon']:.6f}")]
        body = "".join(f"<tr><th align='left'>{html.escape(a)}</th><td>{html.escape(str(b))}</td></tr>"
                       for a, b in rows if b not in (None, ""))
        img = ""
        if images and f["fid"] in images:
            img = f"<img src=\"{html.escape(images[f['fid']])}\" width=\"320\"/><br/>"
        ET.SubElement(pm, k("description")).text = f"{img}<table>{body}</table>"
        ext = ET.SubElement(pm, k("ExtendedData"))
        for key, val in _properties(f, sha, db.path.name).items():
            d = ET.SubElement(ext, k("Data"), name=key)
            ET.SubElement(d, k("value")).text = "" if val is None else str(val)
        pt = ET.SubElement(pm, k("Point"))
        ET.SubElement(pt, k("coordinates")).text = f"{f['lon']:.8f},{f['lat']:.8f},0"
    ET.indent(root, space=" ")
    return ET.ElementTree(root)


def _crops(db, flags, result, label: str) -> dict[int, bytes]:
    """JPEG crops (box drawn, with context) of the positioned flags, from the review cache."""
    cache = ImageCache(db.cache_dir)
    crops: dict[int, bytes] = {}
    for f in flags:
        if f["lat"] is None or f["lon"] is None:
            continue
        try:
            crop = cache.crop(f, Path(f["frame_path"]), f["frame_sha256"])
        except FrameError as exc:
            result.warnings.append(f"no picture for flag {f['fid']} in the {label}: {exc}")
            continue
        crops[f["fid"]] = crop.read_bytes()
    return crops


def _kml(db, flags, out, result, ev, **_):
    if out.suffix.lower() == ".kmz":  # `--to kml -o flags.kmz` means the zipped form
        return _kmz(db, flags, out, result, ev)
    # A plain KML cannot hold pictures: the crops go to a folder beside it, named in each
    # balloon by a relative link (Google Earth resolves it next to the .kml).  Whoever gets the
    # KML needs that folder too; a KMZ carries both in one file.
    images = write_balloon_pictures(out, _crops(db, flags, result, "KML"), "flag", result, write_file)
    tree = _kml_tree(db, flags, result, ev, images)
    write_file(out, lambda p: tree.write(p, encoding="utf-8", xml_declaration=True))
    result.count = len(flags) - len(result.without_position)


def _kmz(db, flags, out, result, ev, **_):
    pictures = _crops(db, flags, result, "KMZ")
    images = {fid: f"files/flag-{fid}.jpg" for fid in pictures}
    crops = {images[fid]: data for fid, data in pictures.items()}
    tree = _kml_tree(db, flags, result, ev, images)
    buf = io.BytesIO()
    tree.write(buf, encoding="utf-8", xml_declaration=True)

    def write(p: Path):
        with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("doc.kml", buf.getvalue())  # Google Earth reads the first .kml entry
            for name, data in crops.items():
                z.writestr(name, data, compress_type=zipfile.ZIP_STORED)  # JPEGs do not shrink

    write_file(out, write)
    result.count = len(flags) - len(result.without_position)


# --- entry point ----------------------------------------------------------------------------------
def export_flight(gpkg, fmt: str, out, status: str = "confirmed", *, verify_frames: bool = False,
                  smart_mapping=None, smart_url: str | None = None, smart_ca_uuid: str | None = None,
                  smart_auth: tuple[str, str] | None = None, smart_token: str | None = None,
                  smart_attachments: bool = True, smart_timeout: float = 30.0,
                  allow_insecure: bool = False, per_flag: bool = False) -> ExportResult:
    """Export the sightings (or, with ``per_flag``, the flags) of one flight.

    Parameters
    ----------
    gpkg : str or Path
        The flight GeoPackage.
    fmt : {'geojson', 'kml', 'kmz', 'csv', 'smart'}
        Output format.
    out : str or Path
        Output file (written atomically; its folder is created).
    status : {'confirmed', 'all'}
        Export only what an analyst confirmed (default), or everything.
    verify_frames : bool
        Re-hash every frame and warn when one changed since processing (slower).
    smart_mapping : str or Path, optional
        SMART mapping file (TOML/JSON); the bundled Land of the Leopard mapping by default.
    smart_url, smart_ca_uuid, smart_auth, smart_token, smart_attachments, smart_timeout, allow_insecure
        SMART only: POST the incidents to a SMART Connect server (see
        :func:`processing.export.smart.post_incidents`).
    per_flag : bool
        One entry per flag (per photo) instead of one per sighting (object): SMART then gets
        an incident per flag.

    Returns
    -------
    ExportResult
    """
    if fmt not in FORMATS:
        raise InvalidInputError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    if smart_url and fmt != "smart":
        raise InvalidInputError("a SMART Connect URL only makes sense with --to smart")
    db = FlightDB(gpkg)
    out = Path(out)
    if out.resolve() == db.path:
        raise InvalidInputError(f"the export would overwrite the flight GeoPackage itself ({out})")
    try:
        result = ExportResult(path=out, fmt=fmt, count=0)
        ev = _Evidence(verify_frames, result.warnings)
        if not per_flag:
            from .sightings import export_sightings

            if status not in STATUS_CHOICES:
                raise InvalidInputError(f"--status must be one of {', '.join(STATUS_CHOICES)}, not {status!r}")
            export_sightings(db, fmt, out, status, result, ev, write_file, mapping_path=smart_mapping,
                             url=smart_url, ca_uuid=smart_ca_uuid, auth=smart_auth, token=smart_token,
                             attachments=smart_attachments, timeout=smart_timeout, allow_insecure=allow_insecure)
            return result
        flags = _select(db, status)
        if fmt == "smart":
            from .smart import export_smart

            export_smart(db, flags, out, result, ev, mapping_path=smart_mapping, url=smart_url,
                         ca_uuid=smart_ca_uuid, auth=smart_auth, token=smart_token,
                         attachments=smart_attachments, timeout=smart_timeout, allow_insecure=allow_insecure)
        else:
            {"geojson": _geojson, "csv": _csv, "kml": _kml, "kmz": _kmz}[fmt](db, flags, out, result, ev)
    except OSError as exc:
        raise ExportError(f"could not write {out}: {exc.strerror or exc}") from None
    finally:
        db.close()
    return result


__all__ = ["FORMATS", "STATUS_CHOICES", "CSV_COLUMNS", "ExportResult", "export_flight"]
