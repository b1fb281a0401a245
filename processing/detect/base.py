"""The detector interface: a frame in, a list of detections (class, score, pixel box) out.

Detectors are found by name (:func:`processing.detect.registry.get_detector`); plugins add
their own through the ``amur_uav.detectors`` entry-point group, each entry pointing at a
:class:`Detector` subclass or a factory returning one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# The classes the project flags.  A plugin may add others.
FIRE = "fire"
SMOKE = "smoke"
VEHICLE = "vehicle"
HOTSPOT = "hotspot"      # thermal frames: warmer than the threshold
SPOTLIGHT = "spotlight"  # night RGB: bright point sources (spotlights, headlights)
PERSON = "person"        # thermal frames: people on foot

# Largest plausible ground size (metres, longest side) of each class; a flag bigger than this
# is kept but marked as failing the size check ("a vehicle 40 m long is not one").
MAX_GROUND_SIZE_M = {FIRE: 200.0, SMOKE: 2000.0, VEHICLE: 20.0, HOTSPOT: 200.0, SPOTLIGHT: 10.0,
                     PERSON: 4.0}
MIN_GROUND_SIZE_M = {VEHICLE: 1.5}


@dataclass(frozen=True)
class Detection:
    """One thing found in one frame.  Pixel box in full-frame pixel coordinates."""

    cls: str
    score: float
    x0: float
    y0: float
    x1: float
    y1: float
    detector: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def center(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0


@dataclass(frozen=True)
class FrameInfo:
    """What a detector may know about a frame beyond its pixels."""

    path: str = ""
    thermal: bool = False
    gsd_m: float | None = None   # metres per pixel at the frame centre, when georeferenced
    is_night: bool | None = None
    # (row in the pixels the detector is given, metres per CAMERA pixel there) down the frame;
    # NaN where a row sees no ground (above the horizon): an oblique frame's far rows are coarser
    row_gsd: tuple = ()
    # camera pixels per pixel of the image given (a JPEG decoded at 1/2 size: 2); the limits on
    # ground resolution are the camera's, the scale to search at is the image's
    reduce: int = 1
    height_m: float | None = None   # camera height above the ground, when the pose gives it
    # degrees between the optical axis and straight down, when the pose gives it (0: nadir)
    off_nadir_deg: float | None = None


class Detector:
    """Base class.  Subclasses set ``name`` and ``classes`` and implement :meth:`detect`.

    ``detect`` receives the decoded frame: ``uint8`` BGR (H, W, 3) for RGB cameras, or a single
    channel ``uint16``/``float32`` array of radiometric values for thermal frames.
    """

    name: str = ""
    classes: tuple[str, ...] = ()
    wants_thermal: bool = False

    def detect(self, image: np.ndarray, info: FrameInfo | None = None) -> list[Detection]:
        raise NotImplementedError
