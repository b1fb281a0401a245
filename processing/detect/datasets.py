"""The labelled data the learned detectors are trained and evaluated on.

Both data sets use YOLO label files (``class cx cy w h``, normalised to the image size).  This
module turns them into pixel boxes in our class names and fixes the held-back splits, so the
training script and the evaluation script agree on which images were never seen in training.

- ``fire-smoke`` (Roboflow "fire-wrpgm"): ``train/`` and ``valid/``; classes Fire -> ``fire``,
  smoke -> ``smoke``; its ``default`` class marks whole no-fire frames and is used as negatives.
  The held-back split is its ``valid/`` folder.
- ``aerial-cars``: ``images/`` and ``labels/``; car, truck, bus, minibus, cyclist -> ``vehicle``.
  The held-back split is a fixed, seeded 20 % of the images.

Those two splits hold back single images whose neighbours (frames of the same video, crops of
the same mosaic) were trained on, so they flatter the models.  The ``source-train`` /
``source-test`` splits hold back whole sources instead (:func:`source_of`):

- fire-smoke: the videos in :data:`FIRE_SMOKE_TEST_SOURCES` (every frame of them, from
  ``train/`` and ``valid/``) and a seeded 20 % of the still photos (a photo and its
  ``--2-`` copy are one source);
- aerial-cars: the Minsk flight ``DJI_0762`` and the KIT mosaic crops ``MOS155``-``MOS179``
  (:data:`AERIAL_TEST_SOURCES`): a flight and a part of Munich no training step sees.

Models trained with ``source-train`` are scored honestly on ``source-test``.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from uav.errors import InvalidInputError

from .base import FIRE, SMOKE, VEHICLE

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
AERIAL_HOLDOUT_FRACTION = 0.2
AERIAL_SPLIT_SEED = 20240605

SOURCE_SPLITS = ("source-train", "source-test")
FIRE_SMOKE_TEST_SOURCES = ("fire2_mp4", "newsmoke1_mp4", "pexels-alan-w-8365989_mp4")
AERIAL_TEST_SOURCES = ("DJI_0762", "MOS155-179")
STILLS_HOLDOUT_FRACTION = 0.2

FIRE_SMOKE_CLASSES = {0: FIRE, 2: SMOKE}   # 1 ("default") = negative frame, no box
AERIAL_CLASSES = {0: VEHICLE, 1: VEHICLE, 2: VEHICLE, 3: VEHICLE, 4: VEHICLE}

# The Minsk DJI frames (1920x1080) were flown lower than the KIT AIS Munich crops: their cars
# are ~80 px long against ~35 px.  Training and evaluation scale them by this factor so the
# detector sees one ground sampling distance (about 0.12 m per pixel, cars ~35-40 px long).
DJI_FRAME_SCALE = 0.5
CANONICAL_GSD_M = 0.12


@dataclass
class Sample:
    """One labelled image: pixel boxes (N, 4) as x0, y0, x1, y1 and their class names."""

    path: Path
    boxes: np.ndarray
    classes: list[str] = field(default_factory=list)
    scale: float = 1.0   # resize factor the detector should see this image at


def read_yolo_labels(label_path: Path, width: int, height: int,
                     class_map: dict[int, str]) -> tuple[np.ndarray, list[str]]:
    """Read one YOLO label file into pixel boxes, keeping only classes in ``class_map``.

    A missing label file means "no objects".  A malformed line raises
    :class:`uav.errors.InvalidInputError` naming the file and line.
    """
    boxes: list[list[float]] = []
    names: list[str] = []
    if not label_path.exists():
        return np.zeros((0, 4), np.float32), names
    for n, line in enumerate(label_path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 5:
            raise InvalidInputError(
                f"{label_path}:{n}: expected 'class cx cy w h' (5 numbers), got {line!r}")
        try:
            c = int(parts[0])
            cx, cy, w, h = (float(p) for p in parts[1:])
        except ValueError as exc:
            raise InvalidInputError(f"{label_path}:{n}: not numbers: {line!r}") from exc
        if c not in class_map:
            continue
        boxes.append([(cx - w / 2) * width, (cy - h / 2) * height,
                      (cx + w / 2) * width, (cy + h / 2) * height])
        names.append(class_map[c])
    arr = np.array(boxes, np.float32).reshape(-1, 4)
    arr[:, [0, 2]] = arr[:, [0, 2]].clip(0, width)
    arr[:, [1, 3]] = arr[:, [1, 3]].clip(0, height)
    return arr, names


def _image_size(path: Path) -> tuple[int, int]:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise InvalidInputError(f"{path}: cannot be read as an image")
    return img.shape[1], img.shape[0]


def _images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise InvalidInputError(f"{folder}: no such image folder")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def source_of(name: str) -> str:
    """The video, still photo, flight or mosaic an image of either data set was cut from.

    ``fire2_mp4-39_jpg.rf.<hash>.jpg`` -> ``fire2_mp4``; ``img_71--2-_jpg.rf...`` -> ``img_71``;
    ``DJI_0762-0031.jpg`` -> ``DJI_0762``; ``MOS160.png`` and ``MunichStreet02-MOS160.png``
    (the same crop) -> ``MOS155-179``; ``MOS80.png`` -> ``MOS74-93``.
    """
    stem = re.split(r"_(?:jpg|jpeg|png)\.rf\.", name)[0]
    m = re.match(r"img_(\d+)", stem)
    if m:
        return f"img_{m.group(1)}"
    m = re.match(r"(DJI_\d+)-\d+", stem)
    if m:
        return m.group(1)
    m = re.search(r"MOS(\d+)", stem)
    if m:
        return "MOS155-179" if int(m.group(1)) >= 155 else "MOS74-93"
    return re.sub(r"[-_]\d+$", "", Path(stem).stem)


def _held_stills(sources: set[str]) -> set[str]:
    stills = sorted(s for s in sources if s.startswith("img_"))
    k = round(len(stills) * STILLS_HOLDOUT_FRACTION)
    return set(random.Random(AERIAL_SPLIT_SEED).sample(stills, k))


def fire_smoke_samples(root: str | Path, split: str) -> list[Sample]:
    """The fire-smoke data set's ``train`` or ``valid`` folder, or a split by source
    (``source-train``, ``source-test``: see the module's description)."""
    if split not in ("train", "valid") + SOURCE_SPLITS:
        raise InvalidInputError(f"fire-smoke split must be 'train', 'valid', 'source-train' or "
                                f"'source-test', not {split!r}")
    root = Path(root)
    folders = [split] if split in ("train", "valid") else ["train", "valid"]
    images = [(f, img) for f in folders for img in _images(root / f / "images")]
    if split in SOURCE_SPLITS:
        held = _held_stills({source_of(img.name) for _, img in images})
        held.update(FIRE_SMOKE_TEST_SOURCES)
        images = [(f, img) for f, img in images
                  if (source_of(img.name) in held) == (split == "source-test")]
    out = []
    for folder, img in images:
        w, h = _image_size(img)
        boxes, names = read_yolo_labels(root / folder / "labels" / (img.stem + ".txt"), w, h,
                                        FIRE_SMOKE_CLASSES)
        out.append(Sample(img, boxes, names))
    return out


def aerial_split(names: list[str], seed: int = AERIAL_SPLIT_SEED,
                 fraction: float = AERIAL_HOLDOUT_FRACTION) -> set[str]:
    """The fixed, seeded set of image names held back from training."""
    names = sorted(names)
    rng = random.Random(seed)
    k = max(1, round(len(names) * fraction))
    return set(rng.sample(names, k))


def aerial_cars_samples(root: str | Path, split: str) -> list[Sample]:
    """The aerial-cars data set's ``train`` (80 %) or ``valid`` (held-back 20 %) split, or a
    split by source (``source-train``, ``source-test``: see the module's description)."""
    if split not in ("train", "valid") + SOURCE_SPLITS:
        raise InvalidInputError(f"aerial-cars split must be 'train', 'valid', 'source-train' or "
                                f"'source-test', not {split!r}")
    root = Path(root)
    images = _images(root / "images")
    if split in SOURCE_SPLITS:
        held = {p.name for p in images if source_of(p.name) in AERIAL_TEST_SOURCES}
        test = split == "source-test"
    else:
        held = aerial_split([p.name for p in images])
        test = split == "valid"
    out = []
    for img in images:
        if (img.name in held) != test:
            continue
        w, h = _image_size(img)
        boxes, names = read_yolo_labels(root / "labels" / (img.stem + ".txt"), w, h,
                                        AERIAL_CLASSES)
        scale = DJI_FRAME_SCALE if img.name.startswith("DJI_") else 1.0
        out.append(Sample(img, boxes, names, scale))
    return out
