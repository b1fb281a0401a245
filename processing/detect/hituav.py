"""HIT-UAV thermal frames: class mapping and the split by recording.

HIT-UAV (Suo et al., "HIT-UAV: A high-altitude infrared thermal dataset for UAV-based object
detection", Scientific Data 10, 227 (2023), CC BY 4.0) holds 640x512 single-channel thermal
frames named ``<night 1/day 0>_<altitude m>_<pitch deg>_<n>_<frame>.jpg``.  Frames of one
recording (everything but the frame index) are near-duplicates, so a split by random frame
would score the detector on frames it has all but seen.  The split here is by recording:

``test``   every recording flown at 80 m (day and night, every pitch): an altitude no training
           or tuning step sees, so the score also says how well the model carries to a new
           height
``val``    the 40 deg pitch recordings at the other altitudes: operating thresholds are chosen
           here, never on ``test``
``train``  the rest

Classes: Person -> ``person``; Car and OtherVehicle -> ``vehicle``; Bicycle is ignored (a
bicycle at 60-130 m is a few pixels, often ridden, and neither a positive nor a negative);
DontCare regions are ignored (no positive, no penalty for a detection inside them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from uav.errors import InvalidInputError

PERSON = "person"
THERMAL_CLASSES = (PERSON, "vehicle")
HITUAV_CLASSES = {0: PERSON, 1: "vehicle", 3: "vehicle"}
HITUAV_IGNORE = (2, 4)          # Bicycle, DontCare
FRAME_W, FRAME_H = 640, 512
TEST_ALTITUDES = (80,)
VAL_PITCHES = (40,)
SPLITS = ("train", "val", "test")
_NAME = re.compile(r"^([01])_(\d+)_(\d+)_(\d+)_(\d+)$")


@dataclass(frozen=True)
class Recording:
    """What a HIT-UAV file name says about the flight it came from."""

    night: bool
    altitude_m: int
    pitch_deg: int
    n: int

    @property
    def key(self) -> str:
        return f"{int(self.night)}_{self.altitude_m}_{self.pitch_deg}_{self.n}"


@dataclass
class ThermalSample:
    """One labelled frame: pixel boxes (N, 4) with class indices into THERMAL_CLASSES, and
    regions (M, 4) where nothing is scored."""

    path: Path
    recording: Recording
    boxes: np.ndarray
    labels: np.ndarray
    ignore: np.ndarray


def recording_of(path: str | Path) -> Recording:
    """The recording a frame belongs to, from its file name."""
    m = _NAME.match(Path(path).stem)
    if not m:
        raise InvalidInputError(f"{path}: not a HIT-UAV frame name "
                                "(<night>_<altitude>_<pitch>_<n>_<frame>)")
    return Recording(m.group(1) == "1", int(m.group(2)), int(m.group(3)), int(m.group(4)))


def split_of(rec: Recording) -> str:
    """``train``, ``val`` or ``test`` for a recording (see the module text)."""
    if rec.altitude_m in TEST_ALTITUDES:
        return "test"
    if rec.pitch_deg in VAL_PITCHES:
        return "val"
    return "train"


def _read_labels(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    boxes, labels, ignore = [], [], []
    if path.exists():
        for n, line in enumerate(path.read_text().splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            try:
                c = int(parts[0])
                cx, cy, w, h = (float(p) for p in parts[1:5])
            except (ValueError, IndexError) as exc:
                raise InvalidInputError(f"{path}:{n}: expected 'class cx cy w h', "
                                        f"got {line!r}") from exc
            box = [(cx - w / 2) * FRAME_W, (cy - h / 2) * FRAME_H,
                   (cx + w / 2) * FRAME_W, (cy + h / 2) * FRAME_H]
            if c in HITUAV_CLASSES:
                boxes.append(box)
                labels.append(THERMAL_CLASSES.index(HITUAV_CLASSES[c]))
            elif c in HITUAV_IGNORE:
                ignore.append(box)
    return (np.array(boxes, np.float32).reshape(-1, 4), np.array(labels, np.int64),
            np.array(ignore, np.float32).reshape(-1, 4))


def hituav_samples(root: str | Path, split: str) -> list[ThermalSample]:
    """Every labelled frame of one split, from both of the data set's own folders."""
    if split not in SPLITS:
        raise InvalidInputError(f"HIT-UAV split must be one of {', '.join(SPLITS)}, "
                                f"not {split!r}")
    root = Path(root)
    if not (root / "images").is_dir():
        raise InvalidInputError(f"{root}: no HIT-UAV images/ folder here")
    out = []
    for sub in ("train", "val"):
        for img in sorted((root / "images" / sub).glob("*.jpg")):
            rec = recording_of(img)
            if split_of(rec) != split:
                continue
            boxes, labels, ignore = _read_labels(root / "labels" / sub / (img.stem + ".txt"))
            out.append(ThermalSample(img, rec, boxes, labels, ignore))
    return out
