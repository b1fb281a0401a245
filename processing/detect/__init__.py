"""Detectors: fire, smoke, vehicles, thermal hot spots, night spotlights."""

from .base import Detection, Detector, FrameInfo
from .registry import available_detectors, get_detector, get_detectors

__all__ = ["Detection", "Detector", "FrameInfo", "available_detectors", "get_detector",
           "get_detectors"]
