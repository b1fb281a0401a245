"""How much a detector lets through: the ranger's ``--sensitivity low|normal|high``.

Each level is an operating point (a score threshold) stored in the model's JSON and chosen by
the evaluation scripts on held-back data for a stated recall (:mod:`processing.detect.evaluate`
``--set-thresholds R --level high``; :mod:`processing.detect.evaluate_thermal` ``--level``):

- ``normal`` is ``operating_thresholds`` (what every run used before levels existed);
- ``low`` and ``high`` are under ``sensitivity`` -> class -> level, with their target recall
  and the split they were chosen on.

A ranger asks for one level for every class (``high``), or per class (``smoke=high``), or both
(``low,smoke=high``).  The text is checked before any frame is read: a misspelt level or class
is refused with the choices.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from uav.errors import DetectorError

__all__ = ["LEVELS", "SENSITIVE_CLASSES", "Sensitivity", "parse_sensitivity", "level_point",
           "check_levels"]

LEVELS = ("low", "normal", "high")
# The classes whose models carry operating points per level (fire/smoke, vehicle, thermal).
SENSITIVE_CLASSES = ("fire", "smoke", "vehicle", "person")


@dataclass(frozen=True)
class Sensitivity:
    """The level each class is searched at (picklable: it travels with every frame task)."""

    default: str = "normal"
    per_class: tuple[tuple[str, str], ...] = ()

    def level_for(self, cls: str) -> str:
        return dict(self.per_class).get(cls, self.default)

    @property
    def is_normal(self) -> bool:
        return all(self.level_for(c) == "normal" for c in SENSITIVE_CLASSES)

    def __str__(self) -> str:
        parts = [self.default] + [f"{c}={v}" for c, v in self.per_class if v != self.default]
        return ",".join(parts)


def _pick(word: str, choices, what: str) -> str:
    w = word.strip().lower()
    if w in choices:
        return w
    close = difflib.get_close_matches(w, choices, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise DetectorError(f"--sensitivity: unknown {what} {word.strip()!r}; {hint}"
                        f"choose from {', '.join(choices)} (e.g. --sensitivity high, or "
                        "--sensitivity smoke=high for fire season)")


def parse_sensitivity(text: str | None) -> Sensitivity:
    """``"high"``, ``"smoke=high"``, ``"low,smoke=high"`` -> :class:`Sensitivity`.

    Raises
    ------
    DetectorError
        An unknown level or class, or one class given twice.
    """
    if text is None or not text.strip():
        return Sensitivity()
    default, per = "normal", {}
    for part in (p for p in text.split(",") if p.strip()):
        if "=" in part:
            cls, level = part.split("=", 1)
            cls = _pick(cls, SENSITIVE_CLASSES, "class")
            if cls in per:
                raise DetectorError(f"--sensitivity: {cls} is given twice ({text!r})")
            per[cls] = _pick(level, LEVELS, "level")
        else:
            default = _pick(part, LEVELS, "level")
    return Sensitivity(default, tuple(sorted(per.items())))


def level_point(extra: dict, cls: str, level: str, model: str = "") -> dict:
    """The operating point (``threshold``, ``target_recall``, ``chosen_on``) of ``cls`` at
    ``level`` in a model's JSON (``extra``).

    Raises
    ------
    DetectorError
        The model has no operating point for that class at that level.
    """
    if level not in LEVELS:
        raise DetectorError(f"unknown sensitivity {level!r}; choose from {', '.join(LEVELS)}")
    if level == "normal":
        point = (extra.get("operating_thresholds") or {}).get(cls)
    else:
        point = ((extra.get("sensitivity") or {}).get(cls) or {}).get(level)
    if not point or "threshold" not in point:
        raise DetectorError(f"the {cls} model {model} has no {level!r} sensitivity stored; "
                            f"search at normal, or choose one with the evaluation "
                            f"(python -m processing.detect.evaluate --set-thresholds RECALL "
                            f"--level {level})")
    return point


# The shipped models' JSONs holding each class's levels (vehicle: colour and thermal models).
_MODEL_JSONS = {"fire": ("fire_smoke.json",), "smoke": ("fire_smoke.json",),
                "vehicle": ("vehicle.json", "thermal.json"), "person": ("thermal.json",)}


def check_levels(sens: Sensitivity) -> None:
    """Every level asked for is stored in the shipped models (read from their JSONs, no model
    loaded), so a missing one is refused before any frame is read."""
    import json
    from pathlib import Path

    folder = Path(__file__).parent / "models"
    for cls in SENSITIVE_CLASSES:
        level = sens.level_for(cls)
        if level == "normal":
            continue
        for name in _MODEL_JSONS[cls]:
            side = folder / name
            if side.exists():
                level_point(json.loads(side.read_text()), cls, level, name)
