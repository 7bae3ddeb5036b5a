"""Chapter 01: the milestones table and its loader, and the exercise checks."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from aigc_course.checks import CheckFailed, NotAttempted, ch01
from aigc_course.timeline import MODALITIES, Milestone, load_milestones, plot_timeline


def stub(*args, **kwargs):
    raise NotImplementedError


# --- the table and its loader -------------------------------------------------------------


def test_table_rows_are_complete_and_sorted():
    rows = load_milestones()
    assert len(rows) >= 15
    assert [m.year for m in rows] == sorted(m.year for m in rows)
    assert {m.modality for m in rows} == set(MODALITIES)  # every lane of the figure is used
    for m in rows:
        assert 1990 < m.year < 2030, m
        assert f"({m.year})" in m.source, f"{m.milestone}: the source should name year {m.year}"
    names = [m.milestone for m in rows]
    assert len(names) == len(set(names)), "milestone names are looked up by name: keep them unique"


def test_table_has_the_anchor_papers_with_their_years():
    years = {m.milestone: m.year for m in load_milestones()}
    assert years["GAN"] == 2014 and years["VAE"] == 2013 and years["DDPM"] == 2020
    assert years["Transformer"] == 2017 and years["BERT"] == 2018 and years["ChatGPT"] == 2022
    assert years["Neural LM"] == 2003 and years["LSTM text"] == 2013  # text came early too


def test_loader_reports_bad_rows(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("year,milestone,modality,family,source\nsoon,X,text,y,z\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: year must be an integer"):
        load_milestones(bad)
    bad.write_text("year,milestone,modality,family,source\n2020,X,smell,y,z\n", encoding="utf-8")
    with pytest.raises(ValueError, match="modality must be one of"):
        load_milestones(bad)
    bad.write_text("year,name\n2020,X\n", encoding="utf-8")
    with pytest.raises(ValueError, match="expected columns"):
        load_milestones(bad)
    with pytest.raises(FileNotFoundError):
        load_milestones(tmp_path / "missing.csv")


def test_plot_timeline_draws_one_dot_and_label_per_row():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = load_milestones()
    ax = plot_timeline(rows)
    assert len(ax.texts) == len(rows)
    assert len(ax.lines) == len(rows)
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="at least one"):
        plot_timeline([])


def test_timeline_colours_dots_by_family_with_a_legend():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = load_milestones()
    ax = plot_timeline(rows)
    colour_of: dict[str, tuple] = {}
    for m, line in zip(rows, ax.lines, strict=True):
        colour = matplotlib.colors.to_rgba(line.get_color())
        assert colour_of.setdefault(m.family, colour) == colour, f"{m.family}: two colours"
    assert len(set(colour_of.values())) == len(colour_of), "two families share a colour"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert sorted(legend) == sorted(colour_of)
    plt.close(ax.figure)


def test_no_two_dots_of_a_lane_overlap():
    from aigc_course.timeline import SPREAD, dot_positions

    rows = load_milestones()
    xs = dot_positions(rows)
    for i, (a, xa) in enumerate(zip(rows, xs, strict=True)):
        assert abs(xa - a.year) < 0.5, f"{a.milestone} drawn too far from its year"
        for b, xb in zip(rows[i + 1 :], xs[i + 1 :], strict=True):
            if a.modality == b.modality:
                assert abs(xa - xb) >= SPREAD - 1e-9, f"{a.milestone} hides {b.milestone}"
    same_year = [m for m in rows if (m.year, m.modality) == (2022, "text")]
    assert len(same_year) >= 2  # the table does have a crowded spot (InstructGPT, ChatGPT)


# --- exercise checks: the stub fails, wrong answers fail, right answers pass -----------------


def count_by_modality(rows):
    return dict(Counter(m.modality for m in rows))


def years_between(rows, first, second):
    years = {m.milestone: m.year for m in rows}
    return years[second] - years[first]


def log_likelihood(x, mu):
    mu = np.clip(mu, 1e-3, 1 - 1e-3)
    x = np.asarray(x, dtype=np.float64)
    return (x * np.log(mu) + (1 - x) * np.log(1 - mu)).sum(axis=(1, 2))


def test_stubs_are_reported_as_not_attempted():
    for check_fn in (
        ch01.check_count_by_modality,
        ch01.check_years_between,
        ch01.check_log_likelihood,
    ):
        with pytest.raises(NotAttempted, match="not attempted"):
            check_fn(stub)


def test_count_by_modality(capsys):
    ch01.check_count_by_modality(count_by_modality)
    assert "✔" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="expected"):
        ch01.check_count_by_modality(lambda rows: {"text": len(rows)})
    with pytest.raises(CheckFailed, match="expected a dict"):
        ch01.check_count_by_modality(lambda rows: [m.modality for m in rows])


def test_years_between():
    ch01.check_years_between(years_between)
    with pytest.raises(CheckFailed, match="expected"):
        ch01.check_years_between(lambda rows, a, b: -years_between(rows, a, b))

    def silent(rows, first, second):
        years = {m.milestone: m.year for m in rows}
        return years.get(second, 0) - years.get(first, 0)

    with pytest.raises(CheckFailed, match="unknown milestone"):
        ch01.check_years_between(silent)


def test_claims():
    right = "".join(label for _, label in ch01.CLAIMS.values())
    ch01.check_claims(right.lower())
    flipped = "".join("S" if c == "W" else "W" for c in right)
    with pytest.raises(CheckFailed, match="5 of 5"):
        ch01.check_claims(flipped)
    with pytest.raises(CheckFailed, match="5 letters"):
        ch01.check_claims("SW")
    with pytest.raises(NotAttempted):
        ch01.check_claims("")
    with pytest.raises(CheckFailed, match="expected a string"):
        ch01.check_claims(5)


def test_log_likelihood():
    ch01.check_log_likelihood(log_likelihood)
    with pytest.raises(CheckFailed, match="one number per image"):
        ch01.check_log_likelihood(lambda x, mu: log_likelihood(x, mu).sum())
    with pytest.raises(CheckFailed, match="bits"):
        ch01.check_log_likelihood(lambda x, mu: log_likelihood(x, mu) / np.log(2))

    def unclipped(x, mu):
        with np.errstate(divide="ignore", invalid="ignore"):
            return (x * np.log(mu) + (1 - x) * np.log(1 - mu)).sum(axis=(1, 2))

    with pytest.raises(CheckFailed, match="mu = 0 or 1"):
        ch01.check_log_likelihood(unclipped)


def test_autoregressive():
    ch01.check_autoregressive(" B ")
    for wrong in ("a", "c", "d"):
        with pytest.raises(CheckFailed, match="not right"):
            ch01.check_autoregressive(wrong)
    for malformed in ("ab", "e", 2):
        with pytest.raises(CheckFailed, match="one letter"):
            ch01.check_autoregressive(malformed)
    for untouched in ("", None):
        with pytest.raises(NotAttempted):
            ch01.check_autoregressive(untouched)


def test_toy_table_is_a_real_table():
    # the checks rely on a made-up table with a repeated year; keep it a list of Milestone rows
    assert all(isinstance(m, Milestone) for m in ch01._TOY)


def test_em_experiment_states_what_was_measured(capsys):
    """Where the labels are the clusters (ten exact prototypes), the labelled mixture wins: the
    check must then say so, not repeat the MNIST conclusion."""
    from aigc_course.checks.ch01 import _em_step, check_em_experiment

    rng = np.random.default_rng(0)
    prototypes = (rng.random((10, 64)) < 0.5).astype(float)
    labels = np.repeat(np.arange(10), 30)
    x, x_test = prototypes[labels], prototypes[np.repeat(np.arange(10), 5)]
    with pytest.raises(CheckFailed, match="says the opposite"):
        check_em_experiment(_em_step, True, x, labels, x_test)
    check_em_experiment(_em_step, False, x, labels, x_test)
    out = capsys.readouterr().out
    assert "the labelled mixture explains the pixels better" in out
    assert "unsupervised clusters explain" not in out
