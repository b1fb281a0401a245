"""The README is the door and docs/ the rooms: every relative link resolves (file and heading),
and every `uav …` command shown in a README code block names a real subcommand with options
that exist."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from uav.cli import cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    return {_slug(line.lstrip("#")) for line in page.read_text(encoding="utf-8").splitlines()
            if line.startswith("#")}


def broken_links(pages=PAGES) -> list[str]:
    bad = []
    for page in pages:
        name = page.relative_to(ROOT) if page.is_relative_to(ROOT) else page.name
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", target):
                continue  # http(s), mailto: not ours to check offline
            path_part, _, anchor = target.partition("#")
            dest = (page.parent / path_part).resolve() if path_part else page
            if not dest.exists():
                bad.append(f"{name}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                bad.append(f"{name}: {target} (no such heading)")
    return bad


def test_every_relative_link_resolves():
    assert broken_links() == []


def test_the_link_check_sees_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Top\n[ok](#top) [gone](missing.md) [no heading](#nowhere)\n")
    assert [b.split(": ", 1)[1] for b in broken_links([page])] == [
        "missing.md (no such file)", "#nowhere (no such heading)"]


def readme_commands(text: str) -> list[str]:
    """Each `uav …` line of the README's bash blocks, continuation lines joined."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        pending = ""
        for line in block.splitlines():
            line = pending + line.split("  #", 1)[0].rstrip()
            pending = ""
            if line.endswith("\\"):
                pending = line[:-1] + " "
                continue
            line = line.strip()
            for part in re.split(r"\s*(?:&&|;)\s*", line):
                part = re.sub(r"^(?:\S+=\S+\s+)*(?:\.venv/bin/)?", "", part)
                if part.startswith("uav "):
                    out.append(part)
    return out


def check_command(line: str) -> list[str]:
    """What is wrong with one README command: an unknown subcommand or option."""
    words = line.split()[1:]
    command: click.Command = cli
    ctx = click.Context(cli)
    path = ["uav"]
    while isinstance(command, click.Group) and words and not words[0].startswith("-"):
        sub = command.get_command(ctx, words[0])
        if sub is None:
            return [f"{' '.join(path)} has no subcommand {words[0]!r}"]
        path.append(words.pop(0))
        command = sub
    known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
    known |= {"-h", "--help"}
    problems = []
    for word in re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", " ".join(words)):
        if word not in known:
            problems.append(f"{' '.join(path)} has no option {word}")
    return problems


COMMANDS = readme_commands((ROOT / "README.md").read_text(encoding="utf-8"))


def test_the_readme_shows_each_user_their_first_command():
    shown = {" ".join(c.split()[:2]) for c in COMMANDS}
    for first in ("uav demo", "uav plan", "uav upload", "uav sim", "uav rehearse", "uav process",
                  "uav review", "uav export"):
        assert first in shown, first


@pytest.mark.parametrize("line", COMMANDS)
def test_readme_command_names_real_subcommands_and_options(line):
    assert check_command(line) == []


def test_the_command_check_sees_a_wrong_option():
    assert check_command("uav upload x.plan --conect tcp:1:2") == [
        "uav upload has no option --conect"]
    assert check_command("uav plann survey") == ["uav has no subcommand 'plann'"]


def test_the_readme_stays_a_door():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 220, f"README.md has {len(lines)} lines; move detail to docs/"
