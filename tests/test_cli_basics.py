import importlib.util

from click.testing import CliRunner

from uav.cli import COMMANDS, cli


def _built():
    return [n for n, t in COMMANDS.items()
            if importlib.util.find_spec(f"uav.cli.{t.split(':')[0]}") is not None]


def test_help_lists_every_built_command_and_each_has_help():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in _built():
        assert name in result.output
        sub = CliRunner().invoke(cli, [name, "--help"])
        assert sub.exit_code == 0, sub.output


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and "0.1.0" in result.output


def test_every_listed_command_is_built():
    # A command listed in COMMANDS whose module is missing would vanish from the menu.
    assert sorted(_built()) == sorted(COMMANDS)


def test_a_broken_command_module_is_an_error_not_a_missing_command(monkeypatch):
    import pytest

    import uav.cli as cli_pkg

    monkeypatch.setitem(cli_pkg.COMMANDS, "broken", "no_such_module:cmd")
    with pytest.raises(ModuleNotFoundError, match="no_such_module"):
        cli_pkg.cli.get_command(None, "broken")
    monkeypatch.setitem(cli_pkg.COMMANDS, "broken", "plan:no_such_command")
    with pytest.raises(RuntimeError, match="no_such_command"):
        cli_pkg.cli.get_command(None, "broken")


def test_python_dash_m_uav_runs_the_command_line():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "uav", "--help"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "plan" in out.stdout and "process" in out.stdout


def test_help_texts_name_what_the_commands_take():
    # --connect lists every scheme the link understands, udpin: included
    up = CliRunner().invoke(cli, ["upload", "--help"]).output
    for scheme in ("udp:", "udpin:", "udpout:", "tcp:", "tcpin:"):
        assert scheme in up, scheme
    # the SITL "port in use" message points at an option `uav sim start` really has
    from pathlib import Path

    from simulators import sitl

    assert "uav sim start --instance N" in Path(sitl.__file__).read_text(encoding="utf-8")
    assert "--instance" in CliRunner().invoke(cli, ["sim", "start", "--help"]).output
