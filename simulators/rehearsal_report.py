"""What a rehearsal reports: per sortie, what was flown against what was planned."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["RehearsalReport", "SortieReport"]


@dataclass
class SortieReport:
    """What one sortie did against what was planned for it."""

    index: int
    planned_time_s: float | None
    flown_time_s: float
    planned_photos: int
    photos_taken: int
    battery_capacity_mah: float | None
    battery_used_mah: float | None
    battery_remaining_pct: float | None
    max_cross_track_m: float | None
    battery_predicted_mah: float | None = None   # the planner's energy model, same sortie
    fence_breaches: list[str] = field(default_factory=list)
    items_total: int = 0
    items_reached: list[int] = field(default_factory=list)
    completed: bool = False
    landed: bool = False
    upload: str = ""
    problems: list[str] = field(default_factory=list)
    # per lookout point (an orbit or a hover): item, lat, lon, planned_s, watched_s
    lookouts: list[dict] = field(default_factory=list)

    @property
    def photo_ratio(self) -> float | None:
        return self.photos_taken / self.planned_photos if self.planned_photos else None

    @property
    def ok(self) -> bool:
        return self.completed and self.landed and not self.fence_breaches and not self.problems


@dataclass
class RehearsalReport:
    plan: str
    backend: str
    speedup: float
    sorties: list[SortieReport] = field(default_factory=list)
    track_path: str | None = None
    frames_dir: str | None = None
    truth_path: str | None = None
    tlog_path: str | None = None
    wall_time_s: float = 0.0
    sorties_planned: int | None = None   # the plan's sorties (more than flown with --sortie)

    @property
    def ok(self) -> bool:
        return bool(self.sorties) and all(s.ok for s in self.sorties)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        for s, sd in zip(self.sorties, d["sorties"]):
            sd["ok"] = s.ok
            sd["photo_ratio"] = s.photo_ratio
        return d

    def write(self, path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    def describe(self) -> str:
        only = ""
        if self.sorties_planned and len(self.sorties) < self.sorties_planned:
            only = (f" (sortie{'s' if len(self.sorties) > 1 else ''} "
                    f"{', '.join(str(s.index) for s in self.sorties)} of {self.sorties_planned} only)")
        lines = [f"Rehearsal of {self.plan} on {self.backend} ({self.speedup:g}x): "
                 f"{'OK' if self.ok else 'PROBLEMS'}{only}"]
        for s in self.sorties:
            planned = f"{s.planned_time_s / 60:.1f}" if s.planned_time_s else "?"
            batt = (f"{s.battery_used_mah:.0f}/{s.battery_capacity_mah:.0f} mAh"
                    if s.battery_used_mah is not None and s.battery_capacity_mah else "n/a")
            if s.battery_predicted_mah:
                batt += f" (planned {s.battery_predicted_mah:.0f})"
            xte = f"{s.max_cross_track_m:.1f} m" if s.max_cross_track_m is not None else "n/a"
            lines.append(
                f"  sortie {s.index}: flown {s.flown_time_s / 60:.1f} min (planned {planned}), "
                f"battery {batt}, photos {s.photos_taken}/{s.planned_photos}, "
                f"max cross-track {xte}, waypoints reached {len(set(s.items_reached))}/{s.items_total}"
                f", fence breaches {len(s.fence_breaches)}, {'landed' if s.landed else 'NOT LANDED'}")
            for w in s.lookouts:
                lines.append(f"    lookout at item {w['item']} ({w['lat']:.5f}, {w['lon']:.5f}): "
                             f"watched {w['watched_s']:.0f} s of {w['planned_s']:.0f} s planned")
            for p in s.problems:
                lines.append(f"    ! {p}")
        return "\n".join(lines)
