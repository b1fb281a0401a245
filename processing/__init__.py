"""Frames in, georeferenced flags out; the review page; exports."""
