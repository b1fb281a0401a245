"""A small real flight for the review and export tests: JPEG frames written with OpenCV, a
GeoPackage written through FlightStore, flags on the frames, a flown track."""

from __future__ import annotations

import hashlib
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import shapely

from processing.store import FlagRecord, FlightStore, FrameRecord

LAT0, LON0 = 43.1020, 131.2400     # Land of the Leopard, near the A189
W, H = 320, 240                    # small frames keep the tests fast
GSD = 0.5                          # metres per pixel
EVIL_NAME = "<img src=x onerror=window.__pwned=1>.jpg"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@dataclass
class Flight:
    gpkg: Path
    frames: list[Path]
    flag_fids: list[int]
    frame_fids: list[int]


def _offset(lat, lon, east_m, north_m):
    dlat = north_m / 110574.0
    dlon = east_m / (111320.0 * math.cos(math.radians(lat)))
    return lat + dlat, lon + dlon


def _footprint(lat, lon, per_edge: int = 8):
    # Nadir camera, yaw 0: image top is north.  Like processing.georef, the ring runs clockwise
    # from the image's top-left corner with ``per_edge`` points on every edge.
    hw, hh = W * GSD / 2, H * GSD / 2
    corners = [(-hw, hh), (hw, hh), (hw, -hh), (-hw, -hh)]
    pts = []
    for k in range(4):
        (e0, n0), (e1, n1) = corners[k], corners[(k + 1) % 4]
        for j in range(per_edge):
            t = j / per_edge
            la, lo = _offset(lat, lon, e0 + t * (e1 - e0), n0 + t * (n1 - n0))
            pts.append((lo, la))
    return shapely.Polygon(pts)


def _pixel_latlon(lat, lon, x, y):
    return _offset(lat, lon, (x - W / 2) * GSD, (H / 2 - y) * GSD)


def _frame_image(i: int, boxes) -> np.ndarray:
    rng = np.random.default_rng(i)
    img = np.zeros((H, W, 3), np.uint8)
    img[:] = (40, 90 + 3 * i, 50)                        # forest green (BGR)
    noise = rng.integers(0, 35, size=(H, W, 1), dtype=np.uint8)
    img = cv2.add(img, np.repeat(noise, 3, axis=2))
    cv2.line(img, (0, 40 + 10 * i), (W, 60 + 10 * i), (120, 130, 140), 6)   # a forest road
    for cls, (x0, y0, x1, y1) in boxes:
        colour = {"fire": (30, 60, 240), "smoke": (200, 200, 200), "vehicle": (200, 90, 30)}[cls]
        cv2.rectangle(img, (int(x0) + 3, int(y0) + 3), (int(x1) - 3, int(y1) - 3), colour, -1)
    return img


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def make_flight(root: Path, n_frames: int = 6, evil_name: bool = True, with_pose_less: bool = True) -> Flight:
    """Write ``n_frames`` JPEG frames along a north-east line and a flight GeoPackage for them.

    Every frame has one or two flags; the first frame is named with HTML (for the security test)
    when ``evil_name``; the last frame has no pose when ``with_pose_less`` (its flag has no map
    position).
    """
    frames_dir = root / "frames"
    frames_dir.mkdir(parents=True, exist_ok=True)
    gpkg = root / "flight.gpkg"
    frames, flag_fids, frame_fids = [], [], []
    classes = ["fire", "smoke", "vehicle"]
    track = []
    with FlightStore(gpkg) as store:
        for i in range(n_frames):
            lat, lon = _offset(LAT0, LON0, 70.0 * i, 70.0 * i)
            track.append((lon, lat))
            boxes = [(classes[i % 3], (40 + 10 * i, 60, 100 + 10 * i, 120))]
            if i % 2 == 0:
                boxes.append((classes[(i + 1) % 3], (200, 150, 260, 200)))
            name = EVIL_NAME if (evil_name and i == 0) else f"DJI_{i:04d}.JPG"
            path = frames_dir / name
            ok, buf = cv2.imencode(".jpg", _frame_image(i, boxes), [cv2.IMWRITE_JPEG_QUALITY, 90])
            assert ok
            path.write_bytes(buf.tobytes())
            frames.append(path)
            posed = not (with_pose_less and i == n_frames - 1)
            rec = FrameRecord(
                path=str(path), sha256=sha256_file(path),
                time=f"2024-04-18T03:{10 + i:02d}:00Z", lat=lat if posed else None,
                lon=lon if posed else None, alt_rel=80.0 if posed else None, yaw=0.0 if posed else None,
                gsd_m=GSD if posed else None, width=W, height=H, status="done" if posed else "no_pose",
                pose_source="exif" if posed else None, footprint=_footprint(lat, lon) if posed else None)
            flags = []
            for k, (cls, (x0, y0, x1, y1)) in enumerate(boxes):
                if posed:
                    fl_lat, fl_lon = _pixel_latlon(lat, lon, (x0 + x1) / 2, (y0 + y1) / 2)
                    note = None
                else:
                    fl_lat = fl_lon = None
                    note = "frame has no GPS position"
                flags.append(FlagRecord(cls=cls, score=round(0.95 - 0.07 * i - 0.2 * k, 3), px_x0=x0, px_y0=y0,
                                        px_x1=x1, px_y1=y1, detector="test", lat=fl_lat, lon=fl_lon,
                                        position_note=note, ground_size_m=(x1 - x0) * GSD if posed else None))
            frame_fids.append(store.add_frame_result(rec, flags))
            flag_fids.extend(f.fid for f in flags)
        if len(track) >= 2:
            store.add_track(track, source="telemetry")
        store.set_meta("detectors", "test")
    return Flight(gpkg=gpkg, frames=frames, flag_fids=flag_fids, frame_fids=frame_fids)


# --- Chromium -----------------------------------------------------------------------------------
def chromium_or_skip():
    """Chromium path; skip with a clear reason on a user machine without it, fail loudly in CI."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    found = shutil.which("chromium")
    if found:
        return found
    reason = (f"Chromium is not installed ({CHROMIUM} missing); the review page tests need it. "
              "Install it with `apt-get install chromium`.")
    if os.environ.get("CI"):
        pytest.fail("CI must run the review page tests: " + reason)
    pytest.skip(reason)


def playwright_or_skip():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("playwright (Python) is not installed in CI; it is in the 'test' extra")
        pytest.skip("playwright (Python) is not installed: pip install -e '.[test]'")
    return sync_playwright



# --- a survey: every object in several overlapping frames ----------------------------------------
# Ground objects as (class, east m, north m) from the first frame's centre; the frames step 20 m
# east, so each object is in the footprint (160 m x 120 m) of most of them.
SURVEY_OBJECTS = [("fire", 40.0, 10.0), ("vehicle", 70.0, -20.0)]
SURVEY_FALSE = ("smoke", 60.0, 30.0, 5)    # a one-frame false alarm, in frame 5 only


def make_survey_flight(root: Path, n_frames: int = 7) -> Flight:
    """Frames 20 m apart along a line; the fire is flagged in every frame that covers it, the
    vehicle in three of them, and a false smoke in one frame among the several covering it."""
    frames_dir = root / "frames"
    frames_dir.mkdir(parents=True, exist_ok=True)
    gpkg = root / "survey.gpkg"
    frames, flag_fids, frame_fids, track = [], [], [], []
    with FlightStore(gpkg) as store:
        for i in range(n_frames):
            lat, lon = _offset(LAT0, LON0, 20.0 * i, 0.0)
            track.append((lon, lat))
            boxes = []
            for k, (cls, e, n) in enumerate(SURVEY_OBJECTS):
                x, y = W / 2 + (e - 20.0 * i) / GSD, H / 2 - n / GSD
                if not (12 <= x <= W - 12 and 12 <= y <= H - 12):
                    continue
                if cls == "vehicle" and i not in (1, 2, 3):
                    continue  # the detector missed it in the other frames
                boxes.append((cls, (x - 10, y - 8, x + 10, y + 8), 0.9 - 0.05 * k - 0.02 * i))
            cls, e, n, only = SURVEY_FALSE
            if i == only:
                x, y = W / 2 + (e - 20.0 * i) / GSD, H / 2 - n / GSD
                boxes.append((cls, (x - 12, y - 12, x + 12, y + 12), 0.95))
            path = frames_dir / f"DJI_{i:04d}.JPG"
            ok, buf = cv2.imencode(".jpg", _frame_image(i, [(c, b) for c, b, _ in boxes]),
                                   [cv2.IMWRITE_JPEG_QUALITY, 90])
            assert ok
            path.write_bytes(buf.tobytes())
            frames.append(path)
            rec = FrameRecord(path=str(path), sha256=sha256_file(path), time=f"2024-04-18T03:10:{2 * i:02d}Z",
                              lat=lat, lon=lon, alt_rel=80.0, yaw=0.0, pitch=-90.0, gsd_m=GSD, width=W,
                              height=H, status="done", pose_source="exif", footprint=_footprint(lat, lon))
            flags = []
            for cls, (x0, y0, x1, y1), score in boxes:
                fl_lat, fl_lon = _pixel_latlon(lat, lon, (x0 + x1) / 2, (y0 + y1) / 2)
                flags.append(FlagRecord(cls=cls, score=round(score, 3), px_x0=x0, px_y0=y0, px_x1=x1, px_y1=y1,
                                        detector="test", lat=fl_lat, lon=fl_lon, ground_size_m=(x1 - x0) * GSD))
            frame_fids.append(store.add_frame_result(rec, flags))
            flag_fids.extend(f.fid for f in flags)
        store.add_track(track, source="telemetry")
    return Flight(gpkg=gpkg, frames=frames, flag_fids=flag_fids, frame_fids=frame_fids)


def open_review(browser, url, *wait_for: str):
    """A fresh page on the review server at ``url``, ready (``body[data-ready='1']``) and each
    selector of ``wait_for`` present; returns (context, page, the page's errors so far)."""
    ctx = browser.new_context(viewport={"width": 1500, "height": 950})
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url)
    for sel in ("body[data-ready='1']", *wait_for):
        page.wait_for_selector(sel, timeout=15000)
    return ctx, page, errors


def map_pixels(page, selector: str = "#map") -> np.ndarray:
    """The element's screenshot as an RGB array of ints."""
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(page.locator(selector).screenshot())).convert("RGB")).astype(int)
