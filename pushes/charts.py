"""The digest's chart: progress against target by KPI, as a PNG, with Chinese labels in Noto Sans CJK.

The font file ships with the mplfonts package; it is registered with matplotlib's font manager directly
(`mplfonts init` would rewrite matplotlib's own folders, and its SimHei is proprietary). Nothing downloads."""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import ModuleType

FONT_FILE_NAME = "NotoSansCJKsc-Regular.otf"
# Figures are built without pyplot (no global state), but the font cache is shared: one render at a time.
_render_lock = threading.Lock()


def font_path() -> Path:
    """The Noto Sans CJK (Simplified Chinese) file inside the installed mplfonts package."""
    import mplfonts

    path = Path(mplfonts.__file__).resolve().parent / "fonts" / FONT_FILE_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{FONT_FILE_NAME} not found in the mplfonts package at {path.parent}")
    return path


@functools.lru_cache(maxsize=1)
def _matplotlib() -> ModuleType:
    """matplotlib, imported on the first chart: it (with numpy) is ~25 MB that a bot drawing no chart never pays."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a server; must precede pyplot's first import
    return matplotlib


@functools.lru_cache(maxsize=1)
def cjk_font_family() -> str:
    """Registers the font once with matplotlib and returns its family name ("Noto Sans CJK SC")."""
    _matplotlib()
    from matplotlib import font_manager

    path = font_path()
    font_manager.fontManager.addfont(str(path))
    return font_manager.FontProperties(fname=str(path)).get_name()


@dataclass(frozen=True)
class Bar:
    label: str  # already translated
    share_done: float  # 0..n (1.0 = target reached)


def progress_chart(title: str, bars: Sequence[Bar], share_gone: float, pace_label: str,
                   done_label: str) -> bytes:
    """A horizontal bar per KPI (share of target done) with a line where the quarter's pace stands."""
    family = cjk_font_family()
    matplotlib = _matplotlib()
    from matplotlib.figure import Figure

    # Every text of the figure in the CJK font (it has Latin letters and digits too).
    with _render_lock, matplotlib.rc_context({"font.family": [family], "axes.unicode_minus": False}):
        figure = Figure(figsize=(6.4, 0.5 + 0.45 * max(1, len(bars)) + 0.9), dpi=110)
        axes = figure.add_subplot()
        labels = [bar.label for bar in bars] or ["—"]
        values = [min(bar.share_done, 1.5) * 100 for bar in bars] or [0]
        colours = ["#d9534f" if bar.share_done < share_gone * 0.9 else "#5cb85c" for bar in bars] or ["#cccccc"]
        positions = list(range(len(labels)))
        axes.barh(positions, values, color=colours)
        axes.set_yticks(positions, labels)
        axes.invert_yaxis()
        axes.axvline(share_gone * 100, color="#333333", linestyle="--", linewidth=1, label=pace_label)
        for position, value, bar in zip(positions, values, bars, strict=False):
            axes.text(value + 1, position, f"{bar.share_done * 100:.0f}%", va="center", fontsize=8)
        axes.set_xlim(0, max(110, max(values) + 15))
        axes.set_xlabel(done_label)
        axes.set_title(title, fontsize=11)
        axes.legend(loc="lower right", fontsize=8)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    return buffer.getvalue()
