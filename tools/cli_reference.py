"""Write the README's CLI reference from the click commands themselves, so it cannot drift.

`python tools/cli_reference.py` rewrites the block between the `<!-- CLI -->` markers in README.md;
`--check` exits 1 when README.md is out of date (tests/test_readme.py runs that check).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from hubfw.cli.main import main

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN, END = "<!-- CLI -->", "<!-- /CLI -->"


def commands(group: click.Group, prefix: str) -> Iterator[tuple[str, click.Command]]:
    context = click.Context(group, info_name=prefix)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if command is None or command.hidden:
            continue
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            yield from commands(command, path)
        else:
            yield path, command


def reference() -> str:
    lines = ["| command | options | what it does |", "|---|---|---|"]
    for path, command in commands(main, "hubfw"):
        context = click.Context(command, info_name=path)
        usage = " ".join(command.collect_usage_pieces(context))
        options = [record[0] for param in command.get_params(context)
                   if isinstance(param, click.Option) and (record := param.get_help_record(context))
                   and "--help" not in record[0]]
        shown = "<br>".join(f"`{option}`" for option in options).replace("|", "\\|")
        summary = (command.get_short_help_str(limit=300) or "").replace("|", "\\|")
        lines.append(f"| `{path} {usage}` | {shown} | {summary} |")
    lines.append("")
    lines.append("Every command takes `--help` for its full options.")
    return "\n".join(lines)


def with_reference(text: str) -> str:
    start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + reference() + "\n" + text[stop:]


def main_cli() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is out of date")
    args = parser.parse_args()
    current = README.read_text()
    wanted = with_reference(current)
    if args.check:
        if wanted != current:
            print("README.md CLI reference is out of date: run python tools/cli_reference.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main_cli())
