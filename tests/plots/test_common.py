"""The shared picture helpers, and matplotlib staying out of hubfw until something draws."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from xml.etree import ElementTree

import pytest

from hubfw.plots.common import PIXELS, PlotError, format_of, new_figure, png_size, save

ROOT = Path(__file__).resolve().parent.parent.parent


def test_matplotlib_is_not_loaded_by_import_or_non_plotting_commands(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        from click.testing import CliRunner
        import hubfw
        from hubfw.cli.main import main
        runner = CliRunner()
        assert runner.invoke(main, ["--help"]).exit_code == 0
        assert runner.invoke(main, ["flash", "format", "--file", {str(tmp_path / 'f.bin')!r}]).exit_code == 0
        result = runner.invoke(main, ["flash", "report", "--file", {str(tmp_path / 'f.bin')!r}, "--json"])
        assert result.exit_code == 0, result.output
        print(sorted(name for name in sys.modules if name.split(".")[0] == "matplotlib"))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_drawing_does_load_it_headless(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        from hubfw.plots.common import new_figure, save
        figure = new_figure()
        save(figure, {str(tmp_path / 'x.png')!r})
        print("matplotlib" in sys.modules, "matplotlib.pyplot" in sys.modules, figure.canvas.get_default_filetype())
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False", "png"]  # no pyplot: no display, no GUI backend


def test_save_by_suffix_at_the_fixed_size(tmp_path):
    figure = new_figure()
    figure.text(0.5, 0.5, "hello")
    assert png_size(save(figure, tmp_path / "a.PNG").read_bytes()) == PIXELS == (1600, 900)
    root = ElementTree.parse(save(figure, tmp_path / "a.svg")).getroot()
    assert [text.text for text in root.iter("{http://www.w3.org/2000/svg}text")] == ["hello"]
    assert png_size(save(figure, tmp_path / "named-anything", "png").read_bytes()) == (1600, 900)


def test_unknown_suffix_and_unwritable_path_are_plot_errors(tmp_path):
    with pytest.raises(PlotError, match=r"name it \.png or \.svg"):
        format_of(tmp_path / "wear.jpg")
    with pytest.raises(PlotError, match="cannot write"):
        save(new_figure(), tmp_path / "no" / "such" / "dir.png")
    with pytest.raises(ValueError):
        png_size(b"GIF89a")
