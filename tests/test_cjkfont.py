"""Finding a font with Chinese characters for matplotlib, and the note when there is none."""

from __future__ import annotations

import matplotlib as mpl
import pytest

from aigc_course import cjkfont


@pytest.fixture(autouse=True)
def _restore_rc():
    saved = mpl.rcParams.copy()
    yield
    mpl.rcParams.update(saved)


def test_a_found_family_goes_first(monkeypatch):
    monkeypatch.setattr(cjkfont, "_available", lambda: {"DejaVu Sans", "Noto Sans CJK SC",
                                                        "Noto Sans CJK TC"})
    assert cjkfont.use_cjk_font() == "Noto Sans CJK TC"  # traditional script preferred
    assert mpl.rcParams["font.sans-serif"][0] == "Noto Sans CJK TC"
    assert mpl.rcParams["font.family"] == ["sans-serif"]


def test_no_font_prints_how_to_install_one(monkeypatch, capsys):
    from matplotlib import font_manager

    monkeypatch.setattr(cjkfont, "_available", lambda: {"DejaVu Sans"})
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda: [])
    before = list(mpl.rcParams["font.sans-serif"])
    assert cjkfont.use_cjk_font() is None
    assert "fonts-noto-cjk" in capsys.readouterr().out
    assert mpl.rcParams["font.sans-serif"] == before
    assert cjkfont.use_cjk_font(verbose=False) is None and capsys.readouterr().out == ""


def test_without_a_font_chinese_labels_draw_without_a_warning_per_glyph(monkeypatch):
    """A notebook cell that draws Chinese must print the same (nothing on stderr) with or
    without a CJK font: nbval compares the outputs on machines that have none."""
    import warnings

    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    monkeypatch.setattr(cjkfont, "_available", lambda: {"DejaVu Sans"})
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda: [])
    mpl.rcParams["font.sans-serif"] = ["DejaVu Sans"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cjkfont.use_cjk_font(verbose=False) is None
        fig, ax = plt.subplots()
        ax.set_title("牀前明月光")
        fig.canvas.draw()
        plt.close(fig)
    assert [str(w.message) for w in caught if "missing from" in str(w.message)] == []


def test_a_font_file_outside_matplotlibs_cache_is_added(monkeypatch):
    from matplotlib import font_manager

    added = []
    names = {"DejaVu Sans"}
    monkeypatch.setattr(cjkfont, "_available", lambda: set(names))
    monkeypatch.setattr(font_manager, "findSystemFonts",
                        lambda: ["/x/DejaVuSans.ttf", "/fonts/NotoSansCJK-Regular.ttc"])

    def addfont(path):
        added.append(path)
        names.add("Noto Sans CJK JP")

    monkeypatch.setattr(font_manager.fontManager, "addfont", addfont)
    assert cjkfont.use_cjk_font() == "Noto Sans CJK JP"
    assert added == ["/fonts/NotoSansCJK-Regular.ttc"]
