"""A font with Chinese characters for matplotlib, or a clear note that there is none.

Matplotlib's default font (DejaVu Sans) has no Chinese characters: labels such as 牀前看月光
come out as empty boxes and matplotlib warns once per missing glyph. :func:`use_cjk_font`
looks for a font that has them — in matplotlib's own list, then among the system's font files
(matplotlib's list is a cache and may predate a font installed later) — and puts it first in
``font.sans-serif``. Traditional-script families are preferred, because the Tang poems are in
traditional script.
"""

from __future__ import annotations

import warnings
from pathlib import Path

__all__ = ["CJK_FAMILIES", "use_cjk_font"]

#: Families that cover Chinese, best first (Noto/Source Han on Linux, the usual ones on
#: Windows and macOS).
CJK_FAMILIES = (
    "Noto Sans CJK TC", "Noto Sans CJK HK", "Noto Sans CJK SC", "Noto Sans CJK JP",
    "Source Han Sans TC", "Source Han Sans SC", "Source Han Sans CN",
    "Microsoft JhengHei", "Microsoft YaHei", "PingFang TC", "PingFang SC", "Heiti TC",
    "Hiragino Sans GB", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "SimHei", "Noto Serif CJK TC",
    "AR PL UMing TW", "AR PL UKai TW",
)  # fmt: skip
_FILE_HINTS = ("cjk", "sourcehan", "wqy", "msjh", "msyh", "simhei", "pingfang", "hiragino",
               "uming", "ukai", "heiti")  # fmt: skip

INSTALL_HINT = (
    "no font with Chinese characters was found, so Chinese labels in figures will show as "
    "boxes (the text output is unaffected). Install one and restart the kernel: Debian/Ubuntu "
    "`sudo apt install fonts-noto-cjk`; Fedora `sudo dnf install google-noto-sans-cjk-fonts`; "
    "conda `conda install -c conda-forge font-ttf-noto-cjk`; Windows and macOS have one already."
)


#: matplotlib's warning for a character the font lacks ("Glyph 29440 (...) missing from font(s)")
_MISSING_GLYPH = r"Glyph \d+ .*missing from"


def _available() -> set[str]:
    from matplotlib import font_manager

    return {f.name for f in font_manager.fontManager.ttflist}


def use_cjk_font(verbose: bool = True) -> str | None:
    """Make matplotlib draw Chinese: returns the family it will use, or None (and, with
    ``verbose``, prints how to install one). Safe to call more than once."""
    import matplotlib as mpl
    from matplotlib import font_manager

    found = next((f for f in CJK_FAMILIES if f in _available()), None)
    if found is None:  # matplotlib's cache may be older than the fonts: look at the files
        for path in font_manager.findSystemFonts():
            if any(hint in Path(path).name.lower() for hint in _FILE_HINTS):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        font_manager.fontManager.addfont(path)
                    except (OSError, RuntimeError, ValueError):  # unreadable font file
                        continue
        found = next((f for f in CJK_FAMILIES if f in _available()), None)
    if found is None:
        if verbose:
            print("note: " + INSTALL_HINT)
        # said once above (or not wanted): not again for every character of every figure
        warnings.filterwarnings("ignore", message=_MISSING_GLYPH, category=UserWarning)
        return None
    families = [f for f in mpl.rcParams["font.sans-serif"] if f != found]
    mpl.rcParams["font.sans-serif"] = [found, *families]
    mpl.rcParams["font.family"] = "sans-serif"
    mpl.rcParams["axes.unicode_minus"] = False  # CJK fonts often lack the minus sign glyph
    return found
