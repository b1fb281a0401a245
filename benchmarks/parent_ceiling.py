"""The parent's ceiling on a cluster: frames/s ``process_frames`` accepts from workers that
return at once.

On a Dask cluster the workers search the frames in parallel, but one process (the parent) reads
every frame's metadata first (pose, capture order, yaw checks), writes each outcome to the
GeoPackage in its own transaction and groups the flags into sightings at the end.  However many
workers there are, a run cannot go faster than that.  This measures it: ``N`` small synthetic
JPEGs (160x120, EXIF GPS and time, DJI XMP yaw; a survey's lawnmower pattern) are processed by
the real ``process_frames`` whose runner is replaced by workers that answer at once: each
outcome is a copy of one real worker outcome (footprint, searches, a flag on every 10th frame)
moved to the frame's position.  Nothing else of the pipeline is replaced.

Reported per size: frames/s of the whole run (wall and the parent's CPU), the time in the
metadata pre-pass, in the write loop and in the sightings update, and the parent's peak RSS
(sampled every 50 ms) against its RSS before the run: memory must not grow with ``N``.

Run: ``python -m benchmarks.parent_ceiling [--sizes 1000,25000]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import threading
import time
from pathlib import Path

LAT0, LON0 = 43.1, 131.9


def _write_frames(folder: Path, n: int) -> None:
    """``n`` frames along survey lines 100 m apart, a photo every 20 m (50 lines)."""
    import cv2
    import numpy as np
    import piexif

    img = np.full((120, 160, 3), 90, np.uint8)
    img[40:60, 60:90] = (0, 0, 255)
    jpeg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()

    def dms(v):
        d = int(v)
        m = int((v - d) * 60)
        return ((d, 1), (m, 1), (int(round((v - d - m / 60) * 3600 * 1000)), 1000))

    per_line = max(1, n // 50)
    for k in range(n):
        line, j = divmod(k, per_line)
        lat = LAT0 + (j if line % 2 == 0 else per_line - 1 - j) * 20 / 111_320
        lon = LON0 + line * 100 / 81_300
        yaw = 0.0 if line % 2 == 0 else 180.0
        t = 1_700_000_000 + 2 * k
        stamp = time.strftime("%Y:%m:%d %H:%M:%S", time.gmtime(t)).encode()
        exif = piexif.dump({
            "0th": {piexif.ImageIFD.Make: b"DJI", piexif.ImageIFD.Model: b"FC300S"},
            "Exif": {piexif.ExifIFD.DateTimeOriginal: stamp, piexif.ExifIFD.FocalLengthIn35mmFilm: 20},
            "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: dms(lat),
                    piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: dms(lon),
                    piexif.GPSIFD.GPSAltitude: (250, 1)}})
        xmp = ('http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
               'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
               'xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/" drone-dji:RelativeAltitude="100" '
               f'drone-dji:GimbalYawDegree="{yaw}" drone-dji:GimbalPitchDegree="-90"/></rdf:RDF>'
               '</x:xmpmeta>').encode()
        segs = (b"\xff\xe1" + (len(exif) + 2).to_bytes(2, "big") + exif
                + b"\xff\xe1" + (len(xmp) + 2).to_bytes(2, "big") + xmp)
        (folder / f"F{k:06d}.JPG").write_bytes(jpeg[:2] + segs + jpeg[2:])


def _instant_workers(template):
    """A runner whose workers answer at once with ``template`` moved to each task's pose."""
    import shapely

    fp = template.frame.footprint
    flag = template.flags[0] if template.flags else None

    def run(tasks, workers):
        for k, t in enumerate(tasks):
            p = t.pose
            dlon, dlat = p.lon - template.frame.lon, p.lat - template.frame.lat
            frame = dataclasses.replace(template.frame, path=t.path, name=os.path.basename(t.path),
                                        lat=p.lat, lon=p.lon, yaw=p.yaw,
                                        footprint=shapely.transform(fp, lambda xy, d=(dlon, dlat): xy + d))
            flags = []
            if flag is not None and k % 10 == 0:
                flags = [dataclasses.replace(flag, lat=flag.lat + dlat, lon=flag.lon + dlon)]
            yield dataclasses.replace(template, frame=frame, flags=flags, more=t.more)
    return run


def _template(folder: Path):
    """One real worker outcome (a red box found as a vehicle, so sightings have work)."""
    from processing.detect.base import Detection, Detector
    from processing.prepass import prepare_tasks
    from processing.worker import process_frame

    class Box(Detector):
        name, classes = "vehicle", ("vehicle",)

        def detect(self, image, info=None):
            return [Detection("vehicle", 0.9, 60, 40, 90, 60, detector="vehicle")]

    first = str(sorted(folder.iterdir())[0])
    (task,), _ = prepare_tasks([first], detectors=[Box()])
    out = process_frame(task)
    assert out.frame.status == "done" and out.flags, out.frame.error
    return out


def _rss_sampler():
    import psutil

    me = psutil.Process()
    state = {"peak": me.memory_info().rss, "run": True}

    def loop():
        while state["run"]:
            state["peak"] = max(state["peak"], me.memory_info().rss)
            time.sleep(0.05)

    th = threading.Thread(target=loop, daemon=True)
    th.start()
    return me, state, th


def measure(n: int, tmp: Path) -> dict:
    import processing.pipeline as pipeline
    import processing.store.sightings as sightings_mod
    from processing.progress import Progress

    folder = tmp / f"frames{n}"
    folder.mkdir()
    _write_frames(folder, n)
    template = _template(folder)
    times = {}
    real_plan, real_update = pipeline._plan, sightings_mod.update_sightings

    def timed(name, fn):
        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                times[name] = time.perf_counter() - t0
        return wrapper

    pipeline._plan = timed("prepass_s", real_plan)
    sightings_mod.update_sightings = timed("sightings_s", real_update)
    saved_local = pipeline._run_local
    pipeline._run_local = _instant_workers(template)
    me, state, th = _rss_sampler()
    rss0 = me.memory_info().rss
    try:
        # progress counted as in a log file (`uav process ... > log`): a line every 30 s
        progress = Progress(every_s=30, echo=lambda line: None, bar=False)
        s = pipeline.process_frames([folder], tmp / f"f{n}.gpkg", detectors=["vehicle"], progress=progress)
        progress.close()
    finally:
        state["run"] = False
        th.join()
        pipeline._plan, sightings_mod.update_sightings, pipeline._run_local = real_plan, real_update, saved_local
    assert s.done == n, str(s)
    write_s = s.elapsed_s - times["prepass_s"] - times["sightings_s"]
    return {"frames": n, "frames_per_s": round(n / s.elapsed_s, 1),
            "parent_cpu_frames_per_s": round(n / s.parent_cpu_s, 1),
            "elapsed_s": round(s.elapsed_s, 2), "prepass_s": round(times["prepass_s"], 2),
            "write_loop_s": round(write_s, 2), "sightings_s": round(times["sightings_s"], 2),
            "sightings": s.sightings.total, "rss_before_mb": round(rss0 / 2**20),
            "rss_peak_mb": round(state["peak"] / 2**20)}


def run(sizes=(1000, 25000)) -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as d:
        for n in sizes:
            out[str(n)] = measure(n, Path(d))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,25000")
    a = ap.parse_args()
    print(json.dumps(run(tuple(int(x) for x in a.sizes.split(","))), indent=2))


if __name__ == "__main__":
    main()
