"""Detectors: fire, smoke, vehicles, thermal hot spots, night spotlights."""

from .base import Detection, Detector, FrameInfo

__all__ = ["Detection", "Detector", "FrameInfo"]
