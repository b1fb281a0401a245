"""The README's planning examples run as printed (a ranger copies them first).

The commands are read from the README itself, so an example that stops working, for instance
because the energy model now cuts a lookout out of one battery, fails here rather than in the
field.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from missions.estimate import estimate_mission
from missions.formats.qgc_plan import read_plan
from uav.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def _plan_examples() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("### Ranger: plan a flight", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands, pending = [], ""
    for line in section.splitlines():
        line = line.split("  #", 1)[0].rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        kind = line.split()[2] if line.startswith("uav plan ") else ""
        if kind in ("survey", "corridor", "lookout", "perimeter"):
            commands.append(shlex.split(line)[1:])
    return commands


EXAMPLES = _plan_examples()


def test_the_readme_has_planning_examples():
    kinds = {argv[1] for argv in EXAMPLES}
    assert {"survey", "corridor", "lookout", "perimeter"} <= kinds, kinds


@pytest.mark.parametrize("argv", EXAMPLES, ids=[a[1] for a in EXAMPLES])
def test_readme_planning_example_runs(argv, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    argv = [str(ROOT / "missions/data/demo_sector.geojson") if a == "SECTOR" else a for a in argv]
    out = argv.index("-o") + 1
    argv[out] = str(tmp_path / argv[out])
    res = CliRunner().invoke(cli, argv)
    assert res.exit_code == 0, res.output
    plan = read_plan(argv[out])
    assert plan.sorties and all(len(s.items) > 1 for s in plan.sorties)
    # what the planner accepts fits the aircraft's usable battery, sortie by sortie
    usable = plan.aircraft.energy.usable_mah
    charges = [estimate_mission(s, plan.aircraft).charge_mah for s in plan.sorties]
    assert max(charges) <= usable, (charges, usable)
