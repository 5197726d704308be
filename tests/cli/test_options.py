"""hubfw/cli/options.py: `--state`, `--json`, `--radio` and the EUI-64 types, declared once for every command."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
import zigpy.types as t
from cli_reference import commands
from click.testing import CliRunner

from hubfw.cli.main import HubfwGroup, main
from hubfw.cli.options import DEFAULT_STATE_DIR, EUI64, EUI64_LIST, json_option, state_option

METER = t.EUI64.convert("00:0d:6f:00:0a:bc:de:f0")
SPELLINGS = ["00:0d:6f:00:0a:bc:de:f0", "000D6F000ABCDEF0", "00-0d-6f-00-0a-bc-de-f0", " 00:0D:6F:00:0A:BC:DE:F0 "]


def every_parameter() -> list[tuple[str, click.Parameter]]:
    found = []
    for path, command in commands(main, "hubfw"):
        found += [(path, param) for param in command.params]
    return found


@pytest.mark.parametrize("text", SPELLINGS)
def test_the_eui64_type_reads_every_spelling_parse_eui64_reads(text: str) -> None:
    assert EUI64.convert(text, None, None) == METER
    assert EUI64_LIST.convert(f"{text},,00:0d:6f:00:00:00:00:01,", None, None) == [
        METER, t.EUI64.convert("00:0d:6f:00:00:00:00:01")]


def test_a_bad_eui64_is_one_line_naming_the_option_under_the_hubfw_group() -> None:
    @click.command("probe")
    @click.option("--eui64", type=EUI64)
    @click.option("--to", type=EUI64_LIST)
    def probe(eui64: t.EUI64 | None, to: list[t.EUI64] | None) -> None:
        click.echo(f"{eui64} {to}")

    group = HubfwGroup("hubfw", commands={"probe": probe})
    for args, option, bad in [(["--eui64", "nope"], "'--eui64'", "'nope'"),
                              (["--to", "00:0d:6f:00:0a:bc:de:f0,00:0d"], "'--to'", "'00:0d'")]:
        result = CliRunner().invoke(group, ["probe", *args])
        assert result.exit_code == 2  # a usage error, as click has it
        [line] = result.output.splitlines()
        assert line.startswith("hubfw: error: Invalid value for ") and option in line and bad in line
        assert "not an EUI-64" in line
    alone = CliRunner().invoke(probe, ["--eui64", "nope"])  # outside the group: click's own usage error
    assert alone.exit_code == 2 and "Invalid value for '--eui64': not an EUI-64" in alone.output


def test_state_and_json_options_pass_the_same_names_everywhere(tmp_path: Path) -> None:
    @click.command()
    @state_option()
    @json_option()
    def shown(state_dir: Path, as_json: bool) -> None:
        click.echo(f"{state_dir!r} {as_json}")

    assert CliRunner().invoke(shown, []).output == f"{Path(DEFAULT_STATE_DIR)!r} False\n"
    assert CliRunner().invoke(shown, ["--state", str(tmp_path), "--json"]).output == f"{tmp_path!r} True\n"


def test_every_state_json_and_radio_option_is_the_shared_declaration() -> None:
    seen = set()
    for path, param in every_parameter():
        if "--state" in param.opts:
            assert (param.name, param.metavar) == ("state_dir", "DIR"), path
            assert isinstance(param.type, click.Path) and not param.type.file_okay, path
            assert param.default in (DEFAULT_STATE_DIR, None), path
        elif "--json" in param.opts:
            assert param.name == "as_json" and isinstance(param, click.Option) and param.is_flag, path
        elif "--radio" in param.opts:
            assert (param.name, param.metavar, param.required) == ("radio", "RADIO", True), path
        else:
            continue
        seen.add(param.opts[0])
    assert seen == {"--state", "--json", "--radio"}


def test_every_eui64_parameter_has_the_eui64_type() -> None:
    names = {"eui64", "device", "targets", "destination", "subject", "issuer"}
    found = [(path, param) for path, param in every_parameter() if param.name in names or "--eui64" in param.opts]
    assert {path for path, _ in found} == {
        "hubfw activate", "hubfw read-version", "hubfw distribute", "hubfw permit", "hubfw tunnel send", "hubfw tunnel messages",
        "hubfw image build", "hubfw cbke issue", "hubfw cbke import", "hubfw cbke ca new", "hubfw fault set", "hubfw fault clear",
        "hubfw check-device"}
    for path, param in found:
        assert param.type in (EUI64, EUI64_LIST), (path, param.name)


NOT_A_DEVICE = {"issuer", "ch_id", "acb_id"}
"""EUI-64s that name a CA, the hub's own GBCS entity or the access control broker, not a device."""


def test_every_command_that_names_a_device_takes_eui64() -> None:
    naming = {path for path, param in every_parameter()
              if param.type in (EUI64, EUI64_LIST) and param.name not in NOT_A_DEVICE}
    taking = {path for path, param in every_parameter() if "--eui64" in param.opts}
    assert naming == taking
