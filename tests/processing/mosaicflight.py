"""A small survey with a known ground: nadir JPEG frames rendered from one UTM picture of the
ground, so a mosaic made from them can be compared with that picture cell by cell.

Each frame carries real EXIF GPS and DJI XMP tags (as ``uav process`` reads them); its pixels
are the ground picture seen through the camera model processing will build from those tags,
so where the mosaic differs from the ground picture, the mosaic is wrong (seams, offsets,
blending), not the frames.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import piexif

LAT0, LON0 = 43.1000, 131.2500     # Land of the Leopard; UTM zone 52N
EPSG = 32652
W, H = 800, 600                    # frames: 800 px at a 36 mm (35 mm-equivalent) lens: f = 800 px
ALT_REL = 50.0                     # m above take-off: GSD 6.25 cm, footprint 50 x 37.5 m
ALT_AMSL = 250.0
CELL = 0.05                        # ground picture cell (m)


@dataclass
class Survey:
    frames: Path                   # folder of JPEGs
    paths: list[Path]
    ground: np.ndarray             # the ground picture (BGR uint8), north up
    x0: float                      # its upper-left corner (UTM) and cell
    y1: float
    cell: float = CELL

    def ground_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The ground picture (BGR) at UTM points (bilinear)."""
        from scipy.ndimage import map_coordinates

        x, y = np.asarray(x, float), np.asarray(y, float)
        rc = [(self.y1 - y) / self.cell - 0.5, (x - self.x0) / self.cell - 0.5]
        return np.stack([map_coordinates(self.ground[..., b], rc, order=1) for b in range(3)], -1)


def _dms(v):
    d, m = int(v), int((v - int(v)) * 60)
    return ((d, 1), (m, 1), (int(round((v - d - m / 60) * 3600 * 10000)), 10000))


def _tags(lat: float, lon: float) -> bytes:
    exif = piexif.dump({"0th": {piexif.ImageIFD.Model: b"T1"},
                        "Exif": {piexif.ExifIFD.FocalLengthIn35mmFilm: 36,
                                 piexif.ExifIFD.DateTimeOriginal: b"2024:05:01 10:00:00"},
                        "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: _dms(lat),
                                piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: _dms(lon),
                                piexif.GPSIFD.GPSAltitude: (int(ALT_AMSL), 1)}})
    xmp = (b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF "
           b"xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"><rdf:Description "
           b"xmlns:drone-dji=\"http://www.dji.com/drone-dji/1.0/\" drone-dji:RelativeAltitude=\"50\" "
           b"drone-dji:GimbalYawDegree=\"0\" drone-dji:GimbalPitchDegree=\"-90\"/></rdf:RDF></x:xmpmeta>")
    return b"".join(b"\xff\xe1" + struct.pack(">H", len(b) + 2) + b for b in (exif, xmp))


def _jpeg(path: Path, img: np.ndarray, tags: bytes) -> None:
    data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()
    path.write_bytes(data[:2] + tags + data[2:])


def _ground_picture(w: int, h: int, seed: int) -> np.ndarray:
    """Smooth colour fields, roads and blobs: texture at every scale, so misplacement shows."""
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.integers(30, 200, (h // 40, w // 40, 3), dtype=np.uint8), (w, h),
                     interpolation=cv2.INTER_CUBIC)
    img = cv2.add(img, cv2.resize(rng.integers(0, 40, (h // 6, w // 6, 3), dtype=np.uint8), (w, h)))
    for _ in range(6):
        p = rng.integers(0, [w, h, w, h])
        cv2.line(img, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), (210, 210, 200), 40, cv2.LINE_AA)
    for _ in range(60):
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.circle(img, c, int(rng.integers(10, 60)), tuple(int(v) for v in rng.integers(0, 255, 3)), -1)
    return img


def make_survey(root: Path, cols: int = 3, rows: int = 2, step_e: float = 20.0, step_n: float = 15.0,
                seed: int = 7) -> Survey:
    """``cols`` x ``rows`` nadir frames, ``step_e`` / ``step_n`` metres apart (60 % overlap by
    default), over a ground picture that covers them all."""
    from processing.frames import read_metadata
    from processing.georef import FlatGround, georeference_frame
    from processing.poses import intrinsics_from_metadata, pose_from_metadata
    from uav.geo import LocalFrame

    frames = root / "DCIM"
    frames.mkdir(parents=True)
    local = LocalFrame(EPSG)
    cx, cy = local.to_metric(LON0, LAT0)
    span_e, span_n = cols * step_e + 80, rows * step_n + 70
    x0, y1 = float(np.floor(cx - span_e / 2)), float(np.ceil(cy + span_n / 2))
    ground = _ground_picture(int(span_e / CELL), int(span_n / CELL), seed)
    survey = Survey(frames, [], ground, x0, y1)
    for j in range(rows):
        for i in range(cols):
            e = cx + (i - (cols - 1) / 2) * step_e
            n = cy + (j - (rows - 1) / 2) * step_n
            lon, lat = local.to_lonlat(e, n)
            path = frames / f"DJI_{j * cols + i:04d}.JPG"
            tags = _tags(float(lat), float(lon))
            _jpeg(path, np.zeros((H, W, 3), np.uint8), tags)     # tags first: the camera comes from them
            meta = read_metadata(path)
            cam = georeference_frame(pose_from_metadata(meta), intrinsics_from_metadata(meta), FlatGround()).camera
            u, v = np.meshgrid(np.arange(W, dtype=float), np.arange(H, dtype=float))
            P = cam.pixel_to_world(u.ravel(), v.ravel())
            img = survey.ground_at(P[:, 0].reshape(H, W), P[:, 1].reshape(H, W))
            _jpeg(path, img, tags)
            survey.paths.append(path)
    return survey
