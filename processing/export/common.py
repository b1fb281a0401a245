"""What the export writers share: atomic files, the positioned subset, spreadsheet-safe cells,
the KML document and its balloon pictures.  Flags and sightings are written by different modules
(:mod:`.writers`, :mod:`.sightings`, :mod:`.smart`) from these pieces."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree as ET

from uav.errors import ExportError
from uav.files import write_atomic

KML_NS = "http://www.opengis.net/kml/2.2"
# KML colours are aabbggrr.
KML_COLOURS = {"fire": "ff3939e5", "smoke": "ffc5beb0", "vehicle": "ffe5881e", "hotspot": "ff0098ff",
               "spotlight": "ff35d8fd"}


def write_file(out: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, so a failed export leaves no half file."""
    write_atomic(out, write, error=ExportError)


def positioned(flags: list[dict], result) -> list[dict]:
    out = []
    for f in flags:
        if f["lat"] is None or f["lon"] is None:
            result.without_position.append(f["fid"])
        else:
            out.append(f)
    if result.without_position:
        result.warnings.append(f"{len(result.without_position)} flag(s) have no map position and are not in "
                               f"this {result.fmt.upper()} (flag ids {', '.join(map(str, result.without_position))}); "
                               "the CSV export lists them")
    return out


def cell(v):
    """Spreadsheet-safe text: a leading = + - @ would make Excel/LibreOffice run a formula."""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return "" if v is None else v


def write_balloon_pictures(out: Path, crops: dict[int, bytes], prefix: str, result, write) -> dict[int, str]:
    """Write a plain KML's crops to ``OUT_files/`` beside it; returns each fid's relative link."""
    folder = out.with_name(out.stem + "_files")
    if crops:
        folder.mkdir(parents=True, exist_ok=True)
        for fid, data in crops.items():
            write(folder / f"{prefix}-{fid}.jpg", lambda p, data=data: p.write_bytes(data))
        result.warnings.append(f"the balloon pictures are in {folder}; send that folder with the KML, "
                               "or export --to kmz for a single file")
    return {fid: f"{folder.name}/{prefix}-{fid}.jpg" for fid in crops}


def kml_document(name: str, classes, icon_scale: float):
    """An empty KML document with one icon style per class; returns (root, Document, tag maker)."""
    ET.register_namespace("", KML_NS)
    k = lambda tag: f"{{{KML_NS}}}{tag}"  # noqa: E731
    root = ET.Element(k("kml"))
    doc = ET.SubElement(root, k("Document"))
    ET.SubElement(doc, k("name")).text = name
    for cls in sorted(classes):
        st = ET.SubElement(doc, k("Style"), id=f"cls-{style_id(cls)}")
        icon = ET.SubElement(st, k("IconStyle"))
        ET.SubElement(icon, k("color")).text = KML_COLOURS.get(cls, "ffffffff")
        ET.SubElement(icon, k("scale")).text = f"{icon_scale:g}"
    return root, doc, k


def style_id(cls: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in cls)
