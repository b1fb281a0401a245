"""Thumbnails, crops and browser-viewable copies of frames, made once and cached.

The cache lives next to the GeoPackage (``FLIGHT.gpkg.cache/``).  Cached file names carry the
frame's id and a digest of its content hash, so a frame that is replaced gets new cache entries.
Files are written to a temporary name and renamed, so two requests racing for the same thumbnail
never serve half a JPEG.  The original frames are only ever opened for reading.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from uav.errors import FrameError
from uav.files import write_atomic

THUMB_PX = 256          # longest side of a frame thumbnail
VIEW_PX = 2048          # longest side of the viewer copy of frames a browser cannot show as is
CROP_MIN_PX = 96        # a crop shows at least this many source pixels around tiny boxes
CROP_OUT_PX = 320       # longest side of a stored crop
BROWSER_FORMATS = {".jpg", ".jpeg", ".png", ".webp"}
MAX_DIRECT_BYTES = 40 * 1024 * 1024


def _tag(path: Path, sha256: str | None) -> str:
    """A short tag tying a cache entry to the frame's content (or its path, size and mtime)."""
    if not path.is_file():
        raise FrameError(f"frame file is missing: {path}")
    if sha256:
        return sha256[:16]
    st = path.stat()
    return hashlib.sha256(f"{path}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]


def read_frame(path: Path) -> np.ndarray:
    """Decode a frame for display: 8-bit BGR, thermal/16-bit frames stretched to 0-255."""
    if not path.is_file():
        raise FrameError(f"frame file is missing: {path}")
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise FrameError(f"cannot decode frame image {path}")
    if img.dtype != np.uint8:
        # Radiometric thermal frames: a 2-98 percentile stretch keeps hot spots visible.
        f = img.astype(np.float32)
        lo, hi = np.percentile(f, (2, 98))
        img = np.clip((f - lo) * (255.0 / max(hi - lo, 1e-6)), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    return img


def _fit(img: np.ndarray, longest: int) -> np.ndarray:
    h, w = img.shape[:2]
    s = longest / max(h, w)
    if s >= 1.0:
        return img
    return cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def _write_atomic(target: Path, img: np.ndarray, quality: int = 85) -> None:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise FrameError(f"could not encode {target.name}")
    write_atomic(target, buf.tobytes(), error=FrameError, what="cached picture")


class ImageCache:
    """Thumbnails, viewer copies and flag crops of one flight, cached under ``cache_dir``."""

    def __init__(self, cache_dir: Path):
        self.cache_dir = Path(cache_dir)

    def thumbnail(self, frame_fid: int, path: Path, sha256: str | None) -> Path:
        """A JPEG thumbnail (longest side :data:`THUMB_PX`) of the frame; made on first use."""
        target = self.cache_dir / "thumbs" / f"{frame_fid}-{_tag(path, sha256)}.jpg"
        if not target.is_file():
            _write_atomic(target, _fit(read_frame(path), THUMB_PX), quality=80)
        return target

    def viewable(self, frame_fid: int, path: Path, sha256: str | None) -> Path:
        """A file the browser can show: the original if it is a browser format, else a JPEG copy."""
        if not path.is_file():
            raise FrameError(f"frame file is missing: {path}")
        if path.suffix.lower() in BROWSER_FORMATS and path.stat().st_size <= MAX_DIRECT_BYTES:
            return path
        target = self.cache_dir / "view" / f"{frame_fid}-{_tag(path, sha256)}.jpg"
        if not target.is_file():
            _write_atomic(target, _fit(read_frame(path), VIEW_PX), quality=90)
        return target

    def crop(self, flag: dict, path: Path, sha256: str | None) -> Path:
        """A JPEG crop around a flag's pixel box (with context), longest side <= :data:`CROP_OUT_PX`."""
        box = tuple(round(float(flag[k] or 0.0), 1) for k in ("px_x0", "px_y0", "px_x1", "px_y1"))
        key = hashlib.sha256(repr(box).encode()).hexdigest()[:8]
        target = self.cache_dir / "crops" / f"{flag['fid']}-{_tag(path, sha256)}-{key}.jpg"
        if not target.is_file():
            _write_atomic(target, crop_image(read_frame(path), box), quality=88)
        return target


def crop_image(img: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """Cut the box out of ``img`` with half its size as margin (at least :data:`CROP_MIN_PX`),
    draw the box, and fit the result to :data:`CROP_OUT_PX`."""
    h, w = img.shape[:2]
    x0, y0, x1, y1 = box
    bw, bh = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    side = max(bw, bh) * 2.0
    side = max(side, CROP_MIN_PX)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    cx0 = int(max(0, min(w - 1, cx - side / 2)))
    cy0 = int(max(0, min(h - 1, cy - side / 2)))
    cx1 = int(max(cx0 + 1, min(w, cx + side / 2)))
    cy1 = int(max(cy0 + 1, min(h, cy + side / 2)))
    out = img[cy0:cy1, cx0:cx1].copy()
    cv2.rectangle(out, (int(x0 - cx0), int(y0 - cy0)), (int(x1 - cx0), int(y1 - cy0)), (0, 230, 255),
                  max(1, round(max(out.shape[:2]) / 160)))
    scale = CROP_OUT_PX / max(out.shape[:2])
    if scale != 1.0:
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        out = cv2.resize(out, (max(1, round(out.shape[1] * scale)), max(1, round(out.shape[0] * scale))),
                         interpolation=interp)
    return out
