"""Reading frames: metadata (EXIF, XMP) without decoding, pixels, and the evidence hash.

Metadata is read from the JPEG's APP segments (or a TIFF's tags) without touching the
compressed image, so the pipeline can read every frame's pose up front (milliseconds each)
and decode pixels only in the workers.  A frame's SHA-256 is taken from the same bytes that
are decoded, so the hash recorded is that of the pixels that were searched.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from uav.errors import FrameError

FRAME_EXTENSIONS = (".jpg", ".jpeg", ".tif", ".tiff", ".png")

_XMP_START = b"<x:xmpmeta"
_XMP_END = b"</x:xmpmeta>"
_XMP_ATTR = re.compile(r"([A-Za-z][\w.-]*):([A-Za-z][\w.-]*)\s*=\s*\"([^\"]*)\"")
_XMP_ELEM = re.compile(r"<([A-Za-z][\w.-]*):([A-Za-z][\w.-]*)>([^<]*)</\1:\2>")


@dataclass
class FrameMeta:
    """What a frame says about itself, read without decoding its pixels.

    ``exif`` maps tag names (``"GPSLatitude"``, ``"FocalLength"``...) to piexif's raw values;
    ``xmp`` maps ``"prefix:Name"`` (``"drone-dji:GimbalYawDegree"``) to strings.
    """

    path: str
    width: int | None = None
    height: int | None = None
    exif: dict = field(default_factory=dict, repr=False)
    xmp: dict = field(default_factory=dict, repr=False)
    time: _dt.datetime | None = None
    make: str | None = None
    model: str | None = None
    software: str | None = None
    thermal: bool = False


def is_frame_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` looks like a frame by its extension (jpg, tif, png)."""
    return Path(path).suffix.lower() in FRAME_EXTENSIONS


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# --- metadata ------------------------------------------------------------------------------
def _jpeg_app_segments(f, path: str) -> tuple[list[bytes], tuple[int, int] | None, int]:
    """APP1 payloads, the (width, height) and the colour component count from the SOF marker,
    read by seeking."""
    if f.read(2) != b"\xff\xd8":
        raise FrameError(f"{path} is not a JPEG file (no start-of-image marker)")
    app1, size, components = [], None, 0
    while True:
        b = f.read(1)
        if not b:
            break
        if b != b"\xff":
            continue
        marker = f.read(1)
        while marker == b"\xff":
            marker = f.read(1)
        if not marker:
            break
        m = marker[0]
        if m in (0xD8, 0x01) or 0xD0 <= m <= 0xD7:
            continue
        if m in (0xD9, 0xDA):  # end of image / start of scan: metadata is over
            break
        raw = f.read(2)
        if len(raw) < 2:
            break
        length = struct.unpack(">H", raw)[0]
        if length < 2:
            raise FrameError(f"{path}: damaged JPEG (segment length {length})")
        if m == 0xE1:
            app1.append(f.read(length - 2))
        elif m in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            seg = f.read(length - 2)
            if len(seg) >= 5:
                h, w = struct.unpack(">HH", seg[1:5])
                size = (w, h)
                components = seg[5] if len(seg) > 5 else 0
        else:
            f.seek(length - 2, os.SEEK_CUR)
    return app1, size, components


def _parse_xmp(text: str) -> dict[str, str]:
    out = {}
    for prefix, name, value in _XMP_ATTR.findall(text):
        if prefix not in ("xmlns", "x", "rdf"):
            out[f"{prefix}:{name}"] = value.strip()
    for prefix, name, value in _XMP_ELEM.findall(text):
        out.setdefault(f"{prefix}:{name}", value.strip())
    return out


def _flatten_exif(exif: dict) -> dict:
    import piexif

    flat = {}
    for ifd in ("0th", "Exif", "GPS"):
        for tag, value in (exif.get(ifd) or {}).items():
            info = piexif.TAGS.get(ifd, {}).get(tag)
            if info is None:
                continue
            name = info["name"]
            if ifd == "GPS" and not name.startswith("GPS"):
                name = "GPS" + name
            if isinstance(value, bytes) and name not in ("MakerNote", "UserComment", "XMLPacket"):
                value = value.rstrip(b"\x00").decode("latin-1", "replace").strip()
            flat.setdefault(name, value)
    return flat


def _exif_time(flat: dict) -> _dt.datetime | None:
    for key, off_key in (("DateTimeOriginal", "OffsetTimeOriginal"), ("DateTimeDigitized", "OffsetTimeDigitized"),
                         ("DateTime", "OffsetTime")):
        text = flat.get(key)
        if not text:
            continue
        try:
            t = _dt.datetime.strptime(str(text)[:19], "%Y:%m:%d %H:%M:%S")
        except ValueError:
            continue
        sub = flat.get("SubSecTimeOriginal") if key == "DateTimeOriginal" else None
        if sub and str(sub).strip().isdigit():
            s = str(sub).strip()
            t = t.replace(microsecond=int(s.ljust(6, "0")[:6]))
        off = flat.get(off_key)
        m = re.fullmatch(r"([+-])(\d\d):?(\d\d)", str(off).strip()) if off else None
        if m:
            delta = _dt.timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
            tz = _dt.timezone(delta if m.group(1) == "+" else -delta)
            t = t.replace(tzinfo=tz)
        return t
    return None


# DJI thermal cameras; their JPEG's visible image is a colour-mapped rendering of the frame
_DJI_THERMAL_MODELS = ("M3T", "M30T", "ZH20T", "H20T", "XT2", "XT S", "M2EA",
                       "MAVIC2-ENTERPRISE-ADVANCED", "M3TD", "M4T", "H30T")


def _dji_thermal(meta: FrameMeta) -> bool:
    """A DJI thermal JPEG: its XMP says the infrared camera took it, or a DJI thermal model
    wrote a 640x512 frame (the wide and zoom cameras of the same drone write larger ones)."""
    if "DJI" not in str(meta.make or "").upper():
        return False
    source = str(meta.xmp.get("drone-dji:ImageSource", ""))
    if source:
        return "infrared" in source.lower()
    model = str(meta.model or "").upper()
    return (meta.width, meta.height) == (640, 512) and any(m in model for m in
                                                           _DJI_THERMAL_MODELS)


def read_metadata(path: str | os.PathLike, data: bytes | None = None) -> FrameMeta:
    """Read a frame's EXIF and XMP without decoding its pixels.

    Parameters
    ----------
    path : str or os.PathLike
        A JPEG or TIFF frame.
    data : bytes, optional
        The file's bytes when already in memory (avoids reading it twice).

    Raises
    ------
    FrameError
        The file is missing, unreadable, or not a JPEG/TIFF/PNG.
    """
    import io

    import piexif

    path = os.fspath(path)
    meta = FrameMeta(path=os.path.abspath(path))
    try:
        f = io.BytesIO(data) if data is not None else open(path, "rb")
    except FileNotFoundError:
        raise FrameError(f"frame {path} does not exist") from None
    except OSError as exc:
        raise FrameError(f"frame {path} cannot be read: {exc.strerror or exc}") from None
    with f:
        head = f.read(4)
        f.seek(0)
        components, png_grey = 0, False
        exif_raw = None
        xmp_text = None
        if head[:2] == b"\xff\xd8":
            segments, size, components = _jpeg_app_segments(f, path)
            if size:
                meta.width, meta.height = size
            for seg in segments:
                if seg.startswith(b"Exif\x00\x00") and exif_raw is None:
                    exif_raw = seg
                elif _XMP_START in seg and xmp_text is None:
                    i, j = seg.find(_XMP_START), seg.rfind(_XMP_END)
                    xmp_text = seg[i:j + len(_XMP_END)].decode("utf-8", "replace")
        elif head in (b"II*\x00", b"MM\x00*"):
            whole = f.read()
            exif_raw = whole
            i = whole.find(_XMP_START)
            if i >= 0:
                j = whole.find(_XMP_END, i)
                xmp_text = whole[i:j + len(_XMP_END)].decode("utf-8", "replace")
        elif head == b"\x89PNG":
            whole = f.read()
            if len(whole) >= 24:
                meta.width, meta.height = struct.unpack(">II", whole[16:24])
            png_grey = len(whole) > 25 and whole[25] in (0, 4)   # IHDR colour type: grey
            i = whole.find(_XMP_START)
            if i >= 0:
                xmp_text = whole[i:whole.find(_XMP_END, i) + len(_XMP_END)].decode("utf-8", "replace")
        else:
            raise FrameError(f"{path} is not a JPEG, TIFF or PNG frame")
    flat = {}
    if exif_raw is not None:
        try:
            flat = _flatten_exif(piexif.load(exif_raw))
        except Exception as exc:  # piexif raises bare ValueError/struct.error on damage
            raise FrameError(f"{path}: its EXIF block is damaged ({exc})") from None
    meta.exif = flat
    meta.xmp = _parse_xmp(xmp_text) if xmp_text else {}
    meta.make = flat.get("Make") or meta.xmp.get("tiff:Make")
    meta.model = flat.get("Model") or meta.xmp.get("tiff:Model")
    meta.software = flat.get("Software")
    if meta.width is None:
        w, h = flat.get("ImageWidth"), flat.get("ImageLength")
        if isinstance(w, int) and isinstance(h, int):
            meta.width, meta.height = w, h
    if meta.width is None:
        w, h = flat.get("PixelXDimension"), flat.get("PixelYDimension")
        if isinstance(w, int) and isinstance(h, int):
            meta.width, meta.height = w, h
    bits = flat.get("BitsPerSample")
    spp = flat.get("SamplesPerPixel")
    meta.thermal = head in (b"II*\x00", b"MM\x00*") and spp in (1, None) and (
        bits in (16, 32) or (isinstance(bits, tuple) and bits and bits[0] in (16, 32)))
    # single-channel JPEG/PNG (a thermal core's 8-bit output) or a DJI thermal JPEG (its
    # visible image is a false-colour palette): thermal too
    meta.thermal = bool(meta.thermal or (head[:2] == b"\xff\xd8" and components == 1)
                        or (head == b"\x89PNG" and png_grey) or _dji_thermal(meta))
    meta.time = _exif_time(flat)
    return meta


# --- pixels --------------------------------------------------------------------------------
def check_jpeg_complete(data: bytes, path: str) -> None:
    """Raise :class:`FrameError` for a JPEG that is cut short.

    libjpeg decodes a truncated file with only a warning and grey rows; a frame cut short on a
    card must be recorded as failed, not searched.  The last end-of-image marker has to sit in
    the second half of the file (the first half holds the embedded thumbnail's marker).
    """
    if data[:2] != b"\xff\xd8":
        return
    eoi = data.rfind(b"\xff\xd9")
    if eoi < 0 or eoi < len(data) // 2:
        raise FrameError(f"{path} is a damaged JPEG: the file is cut short (no end-of-image "
                         f"marker; {len(data)} bytes). Copy it again from the card.")


def decode_frame(data: bytes, path: str = "", reduce: int = 1) -> np.ndarray:
    """Decode a frame's bytes to pixels.

    Parameters
    ----------
    data : bytes
        The file's contents.
    path : str
        For messages only.
    reduce : {1, 2, 4, 8}
        Decode at 1/``reduce`` size (libjpeg's DCT scaling: much faster than resizing).

    Returns
    -------
    numpy.ndarray
        ``uint8`` BGR (H, W, 3), or for single-channel 16-bit/float TIFFs (thermal) the raw
        2-D array.  EXIF orientation is ignored on purpose: the camera model describes the
        sensor's pixel grid, not a viewer's rotated display.

    Raises
    ------
    FrameError
        The bytes are not a decodable image, or the JPEG is cut short.
    """
    import cv2

    if reduce not in (1, 2, 4, 8):
        raise FrameError(f"reduce must be 1, 2, 4 or 8, got {reduce}")
    check_jpeg_complete(data, path)
    buf = np.frombuffer(data, dtype=np.uint8)
    is_tiff = data[:4] in (b"II*\x00", b"MM\x00*")
    if is_tiff:
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        if img is not None and img.ndim == 3 and img.dtype == np.uint8 and img.shape[2] == 4:
            img = img[:, :, :3]
        if img is not None and reduce > 1:
            img = img[::reduce, ::reduce].copy()
    else:
        flags = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                 8: cv2.IMREAD_REDUCED_COLOR_8}[reduce] | cv2.IMREAD_IGNORE_ORIENTATION
        img = cv2.imdecode(buf, flags)
    if img is None or img.size == 0:
        raise FrameError(f"{path or 'frame'} cannot be decoded: the image data is damaged or "
                         f"not an image ({len(data)} bytes)")
    return img


def read_frame_bytes(path: str | os.PathLike) -> bytes:
    """The whole file, with a clear error if it is missing or unreadable."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise FrameError(f"frame {path} does not exist") from None
    except OSError as exc:
        raise FrameError(f"frame {path} cannot be read: {exc.strerror or exc}") from None


def find_frames(inputs) -> list[str]:
    """Expand files and folders (non-recursive into sorted frame files) to absolute paths."""
    out: list[str] = []
    seen = set()
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and is_frame_file(q))
        elif p.exists():
            found = [p]
        else:
            raise FrameError(f"{item} does not exist")
        for q in found:
            a = os.path.abspath(q)
            if a not in seen:
                seen.add(a)
                out.append(a)
    return out
