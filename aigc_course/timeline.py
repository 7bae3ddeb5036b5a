"""A small, cited table of generative-model milestones, and a figure of it (chapter 01).

The table lives in ``aigc_course/_data/milestones.csv`` (columns ``year, milestone, modality,
family, source``); every row names the paper or report it comes from, so readers can check it.
It is read with the standard library so chapter 01 does not need pandas or TensorFlow.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

MODALITIES = ("text", "image", "audio", "video")
COLUMNS = ("year", "milestone", "modality", "family", "source")


@dataclass(frozen=True)
class Milestone:
    """One row of the milestones table."""

    year: int
    milestone: str
    modality: str
    family: str
    source: str


def load_milestones(path: str | Path | None = None) -> list[Milestone]:
    """Read the milestones table (the shipped one unless ``path`` is given), sorted by year.

    Rows of the same year keep the file's order (the table lists them by publication date).

    Raises ``ValueError`` naming the file and line when a row is malformed, so an edited
    table fails loudly instead of drawing a wrong timeline.
    """
    if path is None:
        text = resources.files("aigc_course").joinpath("_data/milestones.csv").read_text("utf-8")
        where = "aigc_course/_data/milestones.csv"
    else:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no milestones table at {path}; pass a CSV file or None")
        text = path.read_text("utf-8")
        where = str(path)
    reader = csv.DictReader(text.splitlines())
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise ValueError(f"{where}: expected columns {', '.join(COLUMNS)}, got {reader.fieldnames}")
    rows = []
    for line, row in enumerate(reader, start=2):
        try:
            year = int(row["year"])
        except (TypeError, ValueError):
            raise ValueError(
                f"{where}, line {line}: year must be an integer, got {row['year']!r}"
            ) from None
        if row["modality"] not in MODALITIES:
            raise ValueError(
                f"{where}, line {line}: modality must be one of {MODALITIES}, got {row['modality']!r}"
            )
        if not row["milestone"] or not row["source"]:
            raise ValueError(f"{where}, line {line}: every milestone needs a name and a source")
        rows.append(
            Milestone(year, row["milestone"], row["modality"], row["family"], row["source"])
        )
    return sorted(rows, key=lambda m: m.year)


def plot_timeline(milestones: list[Milestone], ax=None, title: str | None = None):
    """Draw the milestones as a timeline: one lane per modality, one dot per row, coloured by
    model family (with a legend), so both "what was generated" and "by which kind of model"
    can be read off.

    Dots of the same year in the same lane are spread sideways (``SPREAD`` years apart) so none
    hides another; labels within a lane alternate above and below. Returns the matplotlib ``Axes``.
    """
    import matplotlib.pyplot as plt

    if not milestones:
        raise ValueError("plot_timeline needs at least one milestone; got an empty list")
    if ax is None:
        _, ax = plt.subplots(figsize=(12, 6.5))
    families = list(dict.fromkeys(m.family for m in sorted(milestones, key=lambda m: m.year)))
    palette = plt.get_cmap("tab10").colors
    colours = {f: palette[i % len(palette)] for i, f in enumerate(families)}
    lanes = {m: i for i, m in enumerate(reversed(MODALITIES))}
    in_lane: dict[str, int] = {}
    for m, x in zip(milestones, dot_positions(milestones), strict=True):
        y = lanes[m.modality]
        i = in_lane.get(m.modality, 0)
        in_lane[m.modality] = i + 1
        # alternate above/below, and near/far, so neighbours in a lane never share a spot
        offset = (0.14 + 0.18 * ((i // 2) % 2)) * (1 if i % 2 == 0 else -1)
        ax.plot(x, y, "o", color=colours[m.family], markersize=9, zorder=3)
        ax.annotate(
            m.milestone,
            (x, y),
            (x, y + offset),
            ha="center",
            va="bottom" if offset > 0 else "top",
            fontsize=10,
            arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.6},
        )
    for family, colour in colours.items():
        ax.scatter([], [], color=colour, s=60, label=family)
    ax.legend(title="model family", loc="lower left", fontsize=9, title_fontsize=9, frameon=True)
    years = [m.year for m in milestones]
    ax.set_xlim(min(years) - 1, max(years) + 1)
    ax.set_xticks(range(min(years) - min(years) % 2, max(years) + 2, 2))
    ax.set_ylim(-0.6, len(MODALITIES) - 0.4)
    ax.set_yticks(list(lanes.values()), list(lanes.keys()))
    ax.set_xlabel("year (of the first public version: preprint or paper)")
    ax.grid(axis="y", alpha=0)
    ax.set_title(title or "Milestones of generative models (each row cited in milestones.csv)")
    return ax


#: Horizontal distance, in years, between dots of the same year and lane.
SPREAD = 0.36


def dot_positions(milestones: list[Milestone]) -> list[float]:
    """The x position of each milestone's dot: its year, shifted sideways when several rows
    share a year and a modality (centred on the year, ``SPREAD`` apart, in table order)."""
    groups: dict[tuple[int, str], list[int]] = {}
    for i, m in enumerate(milestones):
        groups.setdefault((m.year, m.modality), []).append(i)
    xs = [0.0] * len(milestones)
    for (year, _), members in groups.items():
        for k, i in enumerate(members):
            xs[i] = year + SPREAD * (k - (len(members) - 1) / 2)
    return xs
