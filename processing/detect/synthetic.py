"""Read a folder of labelled synthetic frames (``truth.json`` and the JPEGs beside it).

The frames are rendered by the simulator (``python -m simulators.training_frames``, or
``uav rehearse --frames-out``); training and evaluation read them here, so processing never
imports the simulators.

``truth.json``: ``{"frames": [{"file", "gsd_m", "objects": [{"cls", "box", "id"}]}]}`` with
boxes as x0, y0, x1, y1 in frame pixels.
"""

from __future__ import annotations

import json
from pathlib import Path


def load_truth(folder: str | Path) -> list[dict]:
    """The frames of a ``truth.json``, as ``{"file", "gsd_m", "objects": [{"cls", "box"}]}``.

    Reads both :mod:`simulators.training_frames` folders and the truth files of
    :class:`simulators.frames.FrameCollector` (``amur-uav-sim-truth/1``: objects carry ``kind``; the ground sampling distance
    is derived from the camera height above ground and the focal length in pixels).
    """
    folder = Path(folder)
    path = folder / "truth.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no truth file for the synthetic frames")
    truth = json.loads(path.read_text())
    frames = []
    fx = (truth.get("camera") or {}).get("fx")
    ground = truth.get("ground_alt_amsl", 0.0)
    for fr in truth["frames"]:
        gsd = fr.get("gsd_m")
        if gsd is None and fx and fr.get("pose"):
            gsd = max(fr["pose"]["alt_amsl"] - ground, 0.5) / fx
        objs = [{"cls": o.get("cls", o.get("kind")), "box": o["box"], "id": o.get("id", "")}
                for o in fr.get("objects", []) if o.get("center_in_frame", True)]
        frames.append({"file": fr["file"], "gsd_m": gsd, "objects": objs})
    return frames
