"""What a worker is given for one frame, what it gives back, and what a whole run did.

Small, picklable dataclasses: the boundary between the parent (pre-pass, writing) and the
workers (local processes or a Dask cluster).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

from .poses import Pose
from .store import FlagRecord, FrameRecord, SearchRecord

MAX_LISTED = 100   # failures / yaw fixes a Summary lists by name (all are counted)


@dataclass
class FrameTask:
    """Everything a worker needs for one frame (small and picklable: a path, not pixels)."""

    path: str
    pose: Pose | None = None
    pose_error: str | None = None
    pose_note: str | None = None
    dem: str | None = None
    ground_elevation: float | None = None
    camera: object = None               # uav.profiles.CameraProfile
    detectors: tuple = ()               # names or Detector instances (colour frames, and
                                        # thermal ones unless thermal_detectors is given)
    thermal_detectors: tuple | None = None   # for thermal frames, when they get others
    more: bool = False                  # a frame already done, searched for more detectors
    sensitivity: object = None          # detect.sensitivity.Sensitivity (None: normal)
    reduce: int = 1
    geotiff_dir: str | None = None
    # pixel-rotation check (editor re-saved frames only): who re-saved it, and trusted
    # overlapping frames to compare with, nearest first, as (path, yaw)
    software: str | None = None
    rotation_refs: tuple = ()
    # the file's bytes, sent along only to a Dask worker that cannot read ``path`` (and, for
    # ``rotation_refs``, same order, each reference's ORB features as the parent computed them
    # (processing.worker.reference_features; None where the parent could not read one)): held
    # in memory there, never written to its disk, hashed as they are, so SHA-256 is the file's
    data: bytes | None = None
    ref_data: tuple = ()
    # a re-saved frame will be checked against this one: the worker sends back its ORB
    # features (processing.worker.reference_features), so the parent need not decode it
    describe: bool = False
    # --register: the worker also finds the frame's tie features (processing.ties) while it
    # holds the frame, so registration need not decode every frame again in the parent
    ties: bool = False

    def detectors_for(self, thermal: bool) -> tuple:
        """The detectors asked for a frame of this kind."""
        if thermal and self.thermal_detectors is not None:
            return self.thermal_detectors
        return self.detectors


@dataclass
class FrameOutcome:
    frame: FrameRecord
    flags: list[FlagRecord]
    seconds: float = 0.0
    yaw_fix: str | None = None          # why the yaw was turned in the worker, if it was
    cpu_s: float = 0.0                  # CPU time the worker spent on it
    searches: list[SearchRecord] = field(default_factory=list)   # the detectors that ran
    more: bool = False                  # added to a frame already done (FrameTask.more)
    unreadable: bool = False            # the worker could not read the frame at its path
    worker: str | None = None           # the Dask worker that ran it (None: local)
    ref_features: tuple | None = None   # FrameTask.describe: this frame's reference features
    tie_features: object = None         # FrameTask.ties: processing.ties.TieFeatures (~160 kB)


@dataclass
class Summary:
    """What a run did."""

    frames: int = 0                       # frames given
    skipped: int = 0                      # already in the GeoPackage
    done: int = 0
    no_pose: int = 0
    failed: int = 0
    flags_by_class: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)    # (path, error), the first MAX_LISTED
    yaw_fixes: list = field(default_factory=list)   # (path, reason), the first MAX_LISTED
    yaw_fixed: int = 0                               # all of them
    elapsed_s: float = 0.0
    worker_cpu_s: float = 0.0             # CPU seconds spent in process_frame, all workers
    parent_cpu_s: float = 0.0             # CPU seconds of this process (pre-pass, writing;
                                          # the frames too when workers=0)
    out: str = ""
    sightings: object = None              # processing.store.sightings.SightingsUpdate
    registration: object = None           # processing.registration.Registration (--register)
    searched_for: dict = field(default_factory=dict)   # "colour"/"thermal" -> detector names
    kinds: Counter = field(default_factory=Counter)    # frames searched, by kind
    searched_again: int = 0               # frames already done, searched for more detectors
    added: Counter = field(default_factory=Counter)    # detector -> frames done, newly searched
    redone: Counter = field(default_factory=Counter)   # detector -> frames searched again (redo)
    outdated: dict = field(default_factory=dict)       # detector -> (frames, had, now)
    sensitivity: object = None            # detect.sensitivity.Sensitivity asked for
    stopped_at: str | None = None         # the last frame written (where an interrupt stopped)
    shipped: int = 0                      # frames sent as bytes to workers that cannot read them
    shipped_bytes: int = 0                # their bytes (and their pixel-check neighbours')
    shipped_names: list = field(default_factory=list)  # the first MAX_LISTED of them
    blind_workers: list = field(default_factory=list)  # Dask workers that could not read a path
    shipped_dem: tuple | None = None      # (--dem path, bytes, workers that could not read it)

    @property
    def processed(self) -> int:
        return self.done + self.no_pose + self.failed

    @property
    def frames_per_s(self) -> float:
        return self.processed / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def __str__(self) -> str:
        lines = [f"{self.processed} frame(s) processed in {self.elapsed_s:.1f} s "
                 f"({self.frames_per_s:.2f} frames/s), {self.skipped} already done -> {self.out}",
                 f"  georeferenced: {self.done}   no pose: {self.no_pose}   failed: {self.failed}"]
        for kind in ("colour", "thermal"):
            if self.kinds.get(kind):
                lines.append(f"  {kind} frames ({self.kinds[kind]}) searched for: "
                             f"{self.searched_for.get(kind) or 'nothing'}")
        sens = self.sensitivity
        if sens is not None and not sens.is_normal:
            from .detect.sensitivity import SENSITIVE_CLASSES

            levels: dict = {}
            for c in SENSITIVE_CLASSES:
                levels.setdefault(sens.level_for(c), []).append(c)
            lines.append("  sensitivity: " + "; ".join(f"{lv} for {', '.join(cs)}"
                                                       for lv, cs in levels.items()))
        if self.searched_again:
            what = ", ".join(f"{d} ({n})" for d, n in sorted((self.added + self.redone).items()))
            lines.append(f"  searched again: {self.searched_again} frame(s) already done, for {what} "
                         f"only (the rest of what they were searched for is kept)")
        if not self.processed and self.skipped:
            lines.append("  nothing new to search for: every frame was already searched for what "
                         "was asked (--redo searches again with a changed model)")
        if self.flags_by_class:
            lines.append("  flags: " + ", ".join(f"{k} {v}" for k, v in sorted(self.flags_by_class.items())))
        else:
            lines.append("  flags: none")
        for det, (n, had, now) in sorted(self.outdated.items()):
            if had.split(" at ")[0] == now.split(" at ")[0]:   # same model, another level
                lines.append(f"  SENSITIVITY CHANGED: {n} frame(s) were searched for {det} with {had}; "
                             f"asked now: {now}. Add --redo to search them again at it (decided flags "
                             f"are kept)")
                continue
            lines.append(f"  MODEL CHANGED: {n} frame(s) were searched for {det} with {had}; the installed one is "
                         f"{now}. Add --redo to search them again with it (decided flags are kept)")
        for path, why in self.yaw_fixes:
            lines.append(f"  yaw corrected: {os.path.basename(path)}: {why}")
        if self.yaw_fixed > len(self.yaw_fixes):
            lines.append(f"  ... and {self.yaw_fixed - len(self.yaw_fixes)} more yaw corrections "
                         f"(frames layer, column yaw_corrected)")
        if self.shipped:
            names = ", ".join(os.path.basename(p) for p in self.shipped_names[:10])
            more = f" and {self.shipped - 10} more" if self.shipped > 10 else ""
            who = (f" ({len(self.blind_workers)} worker(s) could not read their path: "
                   f"{', '.join(self.blind_workers[:3])})" if self.blind_workers else " (--ship-frames)")
            lines.append(f"  sent over the network: {self.shipped} frame(s), "
                         f"{self.shipped_bytes / 1e6:.1f} MB{who}: {names}{more}")
        if self.shipped_dem:
            path, nbytes, blind = self.shipped_dem
            lines.append(f"  sent over the network: the DEM {os.path.basename(path)}, {nbytes / 1e6:.1f} MB, held "
                         f"in each Dask worker's memory ({blind} worker(s) could not read {path})")
        if self.sightings is not None:
            lines.append(f"  {self.sightings}")
        if self.registration is not None:
            lines.append(f"  {self.registration}")
        for path, err in self.failures:
            lines.append(f"  FAILED {path}: {err}")
        if self.failed > len(self.failures):
            lines.append(f"  ... and {self.failed - len(self.failures)} more failed frames "
                         f"(frames layer, status 'failed')")
        return "\n".join(lines)

    def note_fix(self, path: str, why: str) -> None:
        self.yaw_fixed += 1
        if len(self.yaw_fixes) < MAX_LISTED:  # a long flight must not grow the summary per frame
            self.yaw_fixes.append((path, why))

    def note_shipped(self, path: str, nbytes: int) -> None:
        self.shipped += 1
        self.shipped_bytes += nbytes
        if len(self.shipped_names) < MAX_LISTED:
            self.shipped_names.append(path)

    def note_failure(self, path: str, error: str) -> None:
        self.failed += 1
        if len(self.failures) < MAX_LISTED:
            self.failures.append((path, error))


__all__ = ["MAX_LISTED", "FrameOutcome", "FrameTask", "Summary"]
