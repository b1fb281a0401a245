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
