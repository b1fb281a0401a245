"""Export sightings, one entry per object: GeoJSON, KML/KMZ, CSV and SMART Connect incidents.

Each sighting carries its evidence: every frame that flagged it, with the frame's SHA-256 (the
stored hash, checked against the file when asked), best view first.  SMART gets one incident per
sighting whose UUIDs come from the sighting's stable ``uid``, so exporting or sending again, also
after more frames joined the sighting, names the same incident.
"""

from __future__ import annotations

import csv
import html
import io
import json
import uuid
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

from uav.errors import FrameError

from ..store.images import ImageCache

__all__ = ["export_sightings", "SIGHTING_CSV_COLUMNS", "sighting_uuids"]

SIGHTING_CSV_COLUMNS = ["lat", "lon", "position_uncertainty_m", "first_time", "last_time", "class", "score", "frames_flagged",
                        "frames_covering", "n_flags", "status", "note", "reviewer", "reviewed_at",
                        "sighting_id", "uid", "best_frame_name", "best_frame_sha256", "evidence",
                        "moving", "position_note"]


def sighting_uuids(s: dict) -> tuple[str, str]:
    """(incident UUID, observation UUID) of a sighting: the same object always gets the same pair."""
    from .smart import NAMESPACE

    return (str(uuid.uuid5(NAMESPACE, "sighting-incident|" + s["uid"])),
            str(uuid.uuid5(NAMESPACE, "sighting-observation|" + s["uid"])))


def _evidence(s: dict, ev) -> list[dict]:
    return [{"frame_name": f["frame_name"], "frame_path": f["frame_path"], "frame_sha256": ev.sha256(f),
             "flag_id": f["fid"], "score": round(float(f["score"]), 4), "time": f["time"],
             "px_box": [round(float(f[c] or 0), 1) for c in ("px_x0", "px_y0", "px_x1", "px_y1")]}
            for f in s["flags"]]


def _properties(s: dict, evidence: list[dict], flight: str) -> dict:
    best = evidence[0] if evidence else {}
    def r(v, d):
        return None if v is None else round(float(v), d)

    return {
        "sighting_id": s["fid"], "uid": s["uid"], "class": s["cls"], "score": r(s["score"], 4),
        "status": s["status"], "note": s["note"], "reviewer": s["reviewer"], "reviewed_at": s["reviewed_at"],
        "frames_flagged": s["frames_flagged"], "frames_covering": s["frames_covering"],
        "consensus": r(s["consensus"], 4), "n_flags": s["n_flags"], "first_time": s["first_time"],
        "last_time": s["last_time"], "lat": r(s["lat"], 8), "lon": r(s["lon"], 8), "moving": s["moving"],
        "position_uncertainty_m": r(s.get("position_uncertainty_m"), 1),
        "best_flag_id": s["best_flag_fid"], "best_frame_name": best.get("frame_name"),
        "best_frame_sha256": best.get("frame_sha256"), "position_note": s["position_note"],
        "evidence": evidence, "flight": flight,
    }


def _ids(ids: list[int], most: int = 20) -> str:
    shown = ", ".join(map(str, ids[:most]))
    return shown + (f" and {len(ids) - most} more" if len(ids) > most else "")


def _positioned(items: list[dict], result, carried: bool = False) -> list[dict]:
    """The sightings with a map position; the others are counted and named in a warning (a map
    format cannot place them; GeoJSON carries them with a null geometry: ``carried``)."""
    out = [s for s in items if s["lat"] is not None and s["lon"] is not None]
    result.without_position = [s["fid"] for s in items if s["lat"] is None or s["lon"] is None]
    if result.without_position:
        n = len(result.without_position)
        where = ("are in this GeoJSON with a null geometry (a GIS program lists them but draws nothing)"
                 if carried else f"are left out of this {result.fmt.upper()}")
        result.warnings.append(
            f"{n} of {len(items)} sighting(s) have no map position, because their frames had none (no GPS "
            f"in the photo and no --telemetry): they {where} (sighting ids {_ids(result.without_position)}). "
            "To place them, run `uav process` again with the flight's log (--telemetry); the CSV and "
            "GeoJSON exports carry them as they are")
    return out


def _best_crop(db, s: dict, result, label: str) -> bytes | None:
    """The best view's crop (box drawn) from the review cache."""
    cache = ImageCache(db.cache_dir)
    for f in s["flags"]:
        try:
            return cache.crop(f, Path(f["frame_path"]), f["frame_sha256"]).read_bytes()
        except FrameError as exc:
            result.warnings.append(f"no picture of flag {f['fid']} for sighting {s['fid']} in the {label}: {exc}")
    return None


def _geojson(db, items, out, result, ev, write):
    placed = {s["fid"] for s in _positioned(items, result, carried=True)}
    feats = [{"type": "Feature", "id": s["fid"],
              "geometry": ({"type": "Point", "coordinates": [round(s["lon"], 8), round(s["lat"], 8)]}
                           if s["fid"] in placed else None),
              "properties": _properties(s, _evidence(s, ev), db.path.name)}
             for s in items]
    doc = {"type": "FeatureCollection", "name": f"{db.path.stem} sightings", "features": feats}
    write(out, lambda p: p.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8"))
    result.count = len(feats)


def _csv(db, items, out, result, ev, write):
    from .common import cell as _cell

    def rows(p: Path):
        with open(p, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(SIGHTING_CSV_COLUMNS)
            for s in items:
                props = _properties(s, _evidence(s, ev), db.path.name)
                props["evidence"] = "; ".join(f"{e['frame_name']} sha256:{e['frame_sha256']}" for e in props["evidence"])
                w.writerow([v if isinstance(v, (int, float)) else _cell(v)
                            for v in (props[c] for c in SIGHTING_CSV_COLUMNS)])

    write(out, rows)
    result.count = len(items)


def _kml_tree(db, items, result, ev, images: dict[int, str]) -> ET.ElementTree:
    from .common import kml_document
    from .common import style_id as _style_id

    root, doc, k = kml_document(f"{db.path.stem} — sightings", {s["cls"] for s in items}, icon_scale=1.3)
    for s in _positioned(items, result):
        evidence = _evidence(s, ev)
        pm = ET.SubElement(doc, k("Placemark"), id=f"sighting-{s['fid']}")
        ET.SubElement(pm, k("name")).text = f"{s['cls']} {s['score']:.2f} (sighting #{s['fid']})"
        ET.SubElement(pm, k("styleUrl")).text = f"#cls-{_style_id(s['cls'])}"
        if s["first_time"]:
            span = ET.SubElement(pm, k("TimeSpan"))
            ET.SubElement(span, k("begin")).text = s["first_time"]
            ET.SubElement(span, k("end")).text = s["last_time"] or s["first_time"]
        # Every value is HTML-escaped, and ElementTree escapes the whole for XML again.
        facts = [("status", s["status"]), ("reviewer", s["reviewer"]), ("note", s["note"]),
                 ("seen", f"flagged in {s['frames_flagged']} of {s['frames_covering']} frame(s) over it"),
                 ("first seen", s["first_time"]), ("last seen", s["last_time"]),
                 ("lat, lon", f"{s['lat']:.6f}, {s['lon']:.6f}")]
        body = "".join(f"<tr><th align='left'>{html.escape(a)}</th><td>{html.escape(str(b))}</td></tr>"
                       for a, b in facts if b not in (None, ""))
        frames = "".join(f"<tr><td>{html.escape(str(e['frame_name']))}</td><td>{e['score']:.2f}</td>"
                         f"<td>{html.escape(str(e['frame_sha256']))}</td></tr>" for e in evidence)
        img = f"<img src=\"{html.escape(images[s['fid']])}\" width=\"320\"/><br/>" if s["fid"] in images else ""
        ET.SubElement(pm, k("description")).text = (
            f"{img}<table>{body}</table><p>Frames (sha256):</p><table>{frames}</table>")
        ext = ET.SubElement(pm, k("ExtendedData"))
        for key, val in _properties(s, evidence, db.path.name).items():
            d = ET.SubElement(ext, k("Data"), name=key)
            ET.SubElement(d, k("value")).text = (json.dumps(val) if isinstance(val, list)
                                                 else "" if val is None else str(val))
        pt = ET.SubElement(pm, k("Point"))
        ET.SubElement(pt, k("coordinates")).text = f"{s['lon']:.8f},{s['lat']:.8f},0"
    ET.indent(root, space=" ")
    return ET.ElementTree(root)


def _kml(db, items, out, result, ev, write):
    if out.suffix.lower() == ".kmz":
        return _kmz(db, items, out, result, ev, write)
    from .common import write_balloon_pictures

    crops = {s["fid"]: c for s in items if s["lat"] is not None
             for c in [_best_crop(db, s, result, "KML")] if c is not None}
    images = write_balloon_pictures(out, crops, "sighting", result, write)
    tree = _kml_tree(db, items, result, ev, images)
    write(out, lambda p: tree.write(p, encoding="utf-8", xml_declaration=True))
    result.count = len(items) - len(result.without_position)


def _kmz(db, items, out, result, ev, write):
    crops = {s["fid"]: c for s in items if s["lat"] is not None
             for c in [_best_crop(db, s, result, "KMZ")] if c is not None}
    images = {fid: f"files/sighting-{fid}.jpg" for fid in crops}
    tree = _kml_tree(db, items, result, ev, images)
    buf = io.BytesIO()
    tree.write(buf, encoding="utf-8", xml_declaration=True)

    def zipped(p: Path):
        with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("doc.kml", buf.getvalue())
            for fid, data in crops.items():
                z.writestr(images[fid], data, compress_type=zipfile.ZIP_STORED)

    write(out, zipped)
    result.count = len(items) - len(result.without_position)


def sighting_incident(s: dict, evidence: list[dict], mapping, flight: str,
                      attachment: tuple[str, bytes] | None = None) -> dict:
    """One SMART Connect incident (GeoJSON Feature) for one sighting."""
    from .smart import _local_time, incident

    category, attrs = mapping.category(s["cls"])
    best = evidence[0] if evidence else {}
    ours = {"score": round(float(s["score"]), 4), "frame_sha256": best.get("frame_sha256"), "note": s["note"],
            "reviewer": s["reviewer"], "flag_id": s["best_flag_fid"], "frame_name": best.get("frame_name")}
    for name, key in mapping.attributes.items():
        if ours.get(name) is not None:
            attrs[key] = ours[name]
    inc_uuid, obs_uuid = sighting_uuids(s)
    frames = "; ".join(f"{e['frame_name']} sha256 {e['frame_sha256'] or 'unknown'}" for e in evidence)
    comment = (f"{mapping.comment_prefix} {flight}: {s['cls']} sighting (score {s['score']:.2f}), flagged in "
               f"{s['frames_flagged']} of {s['frames_covering']} frame(s) over it; frames: {frames}; "
               f"review: {s['status']}" + (f" by {s['reviewer']}" if s["reviewer"] else "")
               + (f" - {s['note']}" if s["note"] else ""))
    return incident(inc_uuid, obs_uuid, category, attrs, comment, attachment,
                    _local_time(s["first_time"], mapping.timezone), s["lon"], s["lat"])


def _smart(db, items, out, result, ev, write, *, mapping_path=None, url=None, ca_uuid=None, auth=None,
           token=None, attachments=True, timeout=30.0, allow_insecure=False):
    from .smart import load_mapping, write_and_send

    mapping = load_mapping(mapping_path)
    positioned = _positioned(items, result)
    for s in positioned:  # fail on an unmapped class before writing anything
        mapping.category(s["cls"])
    feats = []
    for s in positioned:
        att = None
        if attachments:
            crop = _best_crop(db, s, result, "SMART incident")
            if crop is not None:
                att = (f"uav-sighting-{s['fid']}.jpg", crop)
        feats.append(sighting_incident(s, _evidence(s, ev), mapping, db.path.name, att))
    write_and_send(feats, out, result, write, mapping, url=url, ca_uuid=ca_uuid, auth=auth, token=token,
                   timeout=timeout, allow_insecure=allow_insecure)


def export_sightings(db, fmt: str, out: Path, status: str, result, ev, write, **smart) -> None:
    """Write the flight's sightings (``status`` 'confirmed' or 'all') as ``fmt`` into ``out``."""
    items = db.all_sightings(None if status == "all" else "confirmed")
    if fmt == "smart":
        _smart(db, items, out, result, ev, write, **smart)
    else:
        {"geojson": _geojson, "csv": _csv, "kml": _kml, "kmz": _kmz}[fmt](db, items, out, result, ev, write)
