"""The plan summary names its area for what the flight does with it."""

from __future__ import annotations

from click.testing import CliRunner

from missions.data import __file__ as data_init
from uav.cli import cli

SECTOR = str(__import__("pathlib").Path(data_init).with_name("demo_sector.geojson"))


def test_perimeter_summary_says_sector_area_not_area_to_image(tmp_path):
    out = tmp_path / "edge.plan"
    result = CliRunner().invoke(cli, ["plan", "perimeter", SECTOR, "--inset", "30", "--alt", "60", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "perimeter plan" in result.output
    assert "sector area" in result.output
    assert "area to image" not in result.output
    shown = CliRunner().invoke(cli, ["plan", "show", str(out)])
    assert shown.exit_code == 0, shown.output
    assert "sector area" in shown.output and "area to image" not in shown.output
