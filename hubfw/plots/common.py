"""What every hubfw picture shares: one figure size, a headless canvas, saving as PNG or SVG by suffix.

Why matplotlib: it is the usual, well-kept choice for static PNG and SVG charts in Python — actively
maintained, wheels for every platform we run on, and both formats from one drawing. We draw on a
``Figure`` with the Agg canvas and never touch ``pyplot``: no display, no GUI backend probing, no
global figure registry, so drawing works the same on a headless bench, in CI and in a running hub.

matplotlib takes a few hundred milliseconds to import, so only code that draws imports it, inside the
function that draws (this module imports it on use too): `import hubfw` and every command that does
not draw stay fast.

The size is fixed so a picture reads on a laptop screen at 100 %: 16 × 9 inches at 100 dpi, i.e.
1600 × 900 pixels, with 10-point text (about 14 pixels). The saved file has exactly that size (no
tight bounding box), which tests and the coming HTML report page rely on.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import TYPE_CHECKING

from hubfw.errors import HubfwError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FIGURE_SIZE_IN: tuple[float, float] = (16.0, 9.0)
DPI = 100
PIXELS: tuple[int, int] = (round(FIGURE_SIZE_IN[0] * DPI), round(FIGURE_SIZE_IN[1] * DPI))
FONT_SIZE = 10.0
FORMATS = {".png": "png", ".svg": "svg"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_RC = {
    "font.size": FONT_SIZE,
    "svg.fonttype": "none",  # text stays <text> in the SVG: searchable, selectable, testable
    "svg.hashsalt": "hubfw",  # stable element ids, so the same data gives the same SVG
}


class PlotError(HubfwError):
    """A picture cannot be drawn or written (unknown suffix, unwritable path, no matplotlib)."""


def format_of(path: str | Path) -> str:
    """``png`` or ``svg`` from the file name's suffix; PlotError for anything else."""
    suffix = Path(path).suffix.lower()
    try:
        return FORMATS[suffix]
    except KeyError:
        raise PlotError(f"cannot tell the picture format of {path}: name it .png or .svg") from None


def new_figure(size_in: tuple[float, float] = FIGURE_SIZE_IN) -> Figure:
    """An empty figure of ``size_in`` inches at DPI, on the headless Agg canvas."""
    matplotlib = _matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_RC):
        figure = Figure(figsize=size_in, dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def style():
    """The rc settings every hubfw picture is drawn under: ``with style(): ...draw...``."""
    return _matplotlib().rc_context(_RC)


def save(figure: Figure, path: str | Path, kind: str | None = None) -> Path:
    """Write ``figure`` to ``path`` at its full pixel size, as ``kind`` (``png``/``svg``) or by the suffix."""
    path = Path(path)
    kind = kind or format_of(path)
    if kind not in FORMATS.values():
        raise PlotError(f"cannot write a {kind} picture: png or svg")
    metadata = {"Date": None} if kind == "svg" else {"Software": "hubfw (matplotlib)"}
    try:
        with style():
            figure.savefig(path, format=kind, dpi=DPI, metadata=metadata)
    except OSError as exc:
        raise PlotError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def to_bytes(figure: Figure, kind: str = "png") -> bytes:
    """``figure`` as the bytes of a ``png`` or ``svg`` file at its full pixel size (e.g. to inline in a page)."""
    import io

    if kind not in FORMATS.values():
        raise PlotError(f"cannot make a {kind} picture: png or svg")
    buffer = io.BytesIO()
    metadata = {"Date": None} if kind == "svg" else {"Software": "hubfw (matplotlib)"}
    with style():
        figure.savefig(buffer, format=kind, dpi=DPI, metadata=metadata)
    return buffer.getvalue()


def save_all(figure: Figure, paths: list[str | Path]) -> list[Path]:
    """``save`` to each path in turn (e.g. a PNG and an SVG of the same picture)."""
    for path in paths:
        format_of(path)  # refuse a bad suffix before writing anything
    return [save(figure, path) for path in paths]


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) in pixels from a PNG's IHDR chunk; ValueError if ``data`` is not a PNG."""
    if data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _matplotlib():
    try:
        import matplotlib
    except ImportError:  # a dependency of hubfw; only a broken install gets here
        raise PlotError("drawing needs matplotlib: pip install matplotlib (make installs it)") from None
    return matplotlib
