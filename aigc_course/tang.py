"""Tang poems for chapter 08: the shipped corpus, characters as tokens, and what to measure.

The corpus is 36,381 poems of the *Complete Tang Poems* (全唐詩) in the shape of regulated verse
(four or eight lines of five or seven characters), in traditional script, from the npm package
``chinese-poetry`` 2.0.1 (MIT licence; ``scripts/convert_tang_poems.py`` made the file,
``_data/PROVENANCE.md`` says how). A fixed ~5 % of the poems is held out, by poem.

Every character is a token. A poem is written as its text with its punctuation and no line
breaks, and ``"\\n"`` (:data:`END`) marks where a poem begins and ends, like GPT-2's
``<|endoftext|>``: a model reads ``"\\n" + poem`` and should predict ``poem + "\\n"``. Characters
too rare to learn (fewer than ``min_count`` times in the training poems) become :data:`UNKNOWN`,
□, the mark Chinese editions use for a character they cannot read.

Also here: the form of a generated poem (line lengths, number of lines, punctuation), and
5-gram overlap with the training poems (a memorisation check). The baselines are in
:mod:`aigc_course.baselines`.
"""

from __future__ import annotations

import collections
import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import numpy as np

__all__ = [
    "SHIPPED",
    "SPLITS",
    "PUNCTUATION",
    "END",
    "UNKNOWN",
    "Poem",
    "load_poems",
    "CharTokenizer",
    "poem_stream",
    "context_windows",
    "poem_lines",
    "poem_form",
    "form_report",
    "ngrams",
    "copied_fraction",
]

#: The shipped file, its sha256 and the sha256 of its decompressed text (checked on load).
SHIPPED = (
    "tang_poems.tsv.xz",
    "7db30a30748e1e104299347c50a08efbe7900d4a489844ddcf2ffc994766b885",
    "ee18dcbd9328bafc5963cadc64f759393e8e1cfb49031991a9618fb8af1ac126",
)
COLUMNS = ("index", "split", "author", "title", "poem")
SPLITS = ("train", "held_out")
PUNCTUATION = "，。？！；"
END = "\n"
UNKNOWN = "□"
_LINE_END = re.compile(f"[{PUNCTUATION}]")


@dataclass(frozen=True)
class Poem:
    """One poem: its position in the npm package's Tang poems, author, title and text."""

    index: int
    author: str
    title: str
    text: str

    def __str__(self) -> str:
        return f"{self.author}《{self.title}》\n" + "\n".join(_couplets(self.text))


_poems: dict[str, list[Poem]] = {}


def _read_shipped() -> str:
    from aigc_course.data import IntegrityError

    name, file_sha, text_sha = SHIPPED
    path = resources.files("aigc_course") / "_data" / name
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != file_sha:
        raise IntegrityError(
            f"{path}: the Tang poems shipped with the course are damaged (sha256 "
            f"{hashlib.sha256(data).hexdigest()}, expected {file_sha}).\n"
            "  fix: reinstall the package, or git checkout the file in a clone"
        )
    try:
        import lzma
    except ImportError as exc:  # a Python built without liblzma (some pyenv builds)
        raise ImportError(
            "this Python was built without the lzma module, which reads the shipped poems; "
            "install liblzma (e.g. apt install liblzma-dev) and rebuild Python, or use a "
            "python.org, conda or system Python"
        ) from exc
    raw = lzma.decompress(data)
    assert hashlib.sha256(raw).hexdigest() == text_sha, "xz decompressed to different bytes"
    return raw.decode("utf-8")


def load_poems(split: str = "train") -> list[Poem]:
    """The shipped poems of one split, ``"train"`` or ``"held_out"``, in the package's order."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if not _poems:
        lines = _read_shipped().splitlines()
        if tuple(lines[0].split("\t")) != COLUMNS:
            raise ValueError(f"unexpected header {lines[0]!r} in {SHIPPED[0]}")
        for name in SPLITS:
            _poems[name] = []
        for line in lines[1:]:
            index, part, author, title, text = line.split("\t")
            _poems[part].append(Poem(int(index), author, title, text))
    return list(_poems[split])


def _couplets(text: str) -> list[str]:
    """The text cut after every second line (for display: one couplet, 聯, per row)."""
    rows, start = [], 0
    for i, mark in enumerate(_LINE_END.finditer(text)):
        if i % 2 == 1:
            rows.append(text[start : mark.end()])
            start = mark.end()
    return rows + ([text[start:]] if start < len(text) else [])


class CharTokenizer:
    """Characters <-> integer ids; ``"\\n"`` ends a poem; rare characters become □.

    Built from the training poems (:meth:`from_poems`): ids are assigned by descending
    frequency (``"\\n"`` is 0, □ is 1), so the id says roughly how common a character is.
    """

    def __init__(self, chars: str) -> None:
        if chars[:2] != END + UNKNOWN or len(set(chars)) != len(chars):
            raise ValueError("chars must start with END and UNKNOWN and hold no repeats")
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}
        self.end_id = 0
        self.unknown_id = 1

    @classmethod
    def from_poems(cls, poems: list[Poem], min_count: int = 2) -> CharTokenizer:
        """Every character seen at least ``min_count`` times in ``poems``, most frequent first."""
        if not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"min_count must be a positive integer, got {min_count!r}")
        counts = collections.Counter(c for poem in poems for c in poem.text)
        counts.pop(UNKNOWN, None)
        kept = sorted((c for c, n in counts.items() if n >= min_count), key=lambda c: (-counts[c], c))
        return cls(END + UNKNOWN + "".join(kept))

    def __len__(self) -> int:
        return len(self.chars)

    def __repr__(self) -> str:
        return f"CharTokenizer({len(self):,} tokens: {self.chars[2:12]}...)"

    def encode(self, text: str) -> np.ndarray:
        """Ids of ``text``; characters outside the vocabulary become □'s id."""
        return np.array([self.index.get(c, self.unknown_id) for c in text], dtype=np.int32)

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in np.asarray(ids).ravel())

    def unknown(self, text: str) -> list[str]:
        """The characters of ``text`` that this tokenizer would turn into □, in order."""
        return list(dict.fromkeys(c for c in text if c not in self.index))


def poem_stream(tokenizer: CharTokenizer, poems: list[Poem]) -> tuple[np.ndarray, np.ndarray]:
    """All ``poems`` as one id stream ``\\n p1 \\n p2 \\n ... \\n``, and where each poem starts.

    ``starts[i]`` is the position of the ``"\\n"`` in front of poem ``i``, so
    ``stream[starts[i] : starts[i] + len(poem_i) + 2]`` is ``"\\n" + poem_i + "\\n"``.
    """
    pieces = [tokenizer.encode(END)]
    starts = np.zeros(len(poems), dtype=np.int64)
    position = 0
    for i, poem in enumerate(poems):
        starts[i] = position
        pieces.append(tokenizer.encode(poem.text + END))
        position += len(poem.text) + 1
    return np.concatenate(pieces), starts


def context_windows(tok: CharTokenizer, poems: list[Poem], context: int):
    """For each character of each poem and its end mark, the ``context`` ids before it (the
    poem's own, ``"\n"``-padded on the left): inputs ``(N, context)`` and targets ``(N,)``,
    the training set of chapter 02's fixed-context MLP."""
    if not isinstance(context, int) or context < 1:
        raise ValueError(f"context must be a positive integer, got {context!r}")
    xs, ys = [], []
    for poem in poems:
        ids = np.concatenate([np.full(context, tok.end_id, np.int32), tok.encode(poem.text + END)])
        windows = np.lib.stride_tricks.sliding_window_view(ids, context + 1)
        xs.append(windows[:, :-1])
        ys.append(windows[:, -1])
    return np.concatenate(xs), np.concatenate(ys)


# ----------------------------------------------------------------------------- form and copying


def poem_lines(text: str) -> list[str]:
    """The lines of a poem: the runs of characters between punctuation marks (，。？！；)."""
    lines = _LINE_END.split(text.strip(END))
    return lines[:-1] if lines and lines[-1] == "" else lines


def poem_form(text: str) -> dict:
    """How well one (generated) poem keeps the form of regulated verse.

    The poem's first line sets the length (it must be 5 or 7). Returned: the line lengths,
    ``right_lines`` (how many lines have the first line's length, 0 if that is not 5 or 7),
    ``lines_ok`` (4 or 8 lines), ``punctuation_ok`` (every line ends with a mark, odd lines with
    ，, even lines with 。？！ or ；) and ``regular`` (all of these).
    """
    lines = poem_lines(text)
    lengths = [len(line) for line in lines]
    width = lengths[0] if lengths and lengths[0] in (5, 7) else None
    right = sum(n == width for n in lengths) if width else 0
    marks = [m.group() for m in _LINE_END.finditer(text)]
    punctuation_ok = (
        0 < len(marks) == len(lines)
        and text.strip(END)[-1:] in PUNCTUATION
        and all((m == "，") == (i % 2 == 0) for i, m in enumerate(marks))
    )
    lines_ok = len(lines) in (4, 8)
    return {
        "line_lengths": lengths,
        "right_lines": right,
        "lines_ok": lines_ok,
        "punctuation_ok": punctuation_ok,
        "regular": bool(width) and right == len(lines) and lines_ok and punctuation_ok,
    }


def form_report(texts: list[str]) -> dict:
    """Form of many poems: the share of lines with the right length, of poems with 4 or 8
    lines, with the right punctuation, and fully regular; and the mean number of lines."""
    if not texts:
        raise ValueError("form_report needs at least one poem")
    forms = [poem_form(t) for t in texts]
    n_lines = sum(len(f["line_lengths"]) for f in forms)
    return {
        "right_length": sum(f["right_lines"] for f in forms) / max(n_lines, 1),
        "lines_ok": float(np.mean([f["lines_ok"] for f in forms])),
        "punctuation_ok": float(np.mean([f["punctuation_ok"] for f in forms])),
        "regular": float(np.mean([f["regular"] for f in forms])),
        "mean_lines": n_lines / len(forms),
    }


def ngrams(texts, n: int = 5) -> set[str]:
    """Every run of ``n`` characters inside one line (never across punctuation) of ``texts``."""
    found: set[str] = set()
    for text in texts:
        for line in poem_lines(text):
            found.update(line[i : i + n] for i in range(len(line) - n + 1))
    return found


def copied_fraction(texts, known: set[str], n: int = 5) -> float:
    """Share of the ``n``-grams of ``texts`` (counted with repeats) that occur in ``known``."""
    grams = [
        line[i : i + n] for text in texts for line in poem_lines(text)
        for i in range(len(line) - n + 1)
    ]
    if not grams:
        raise ValueError(f"the texts have no line of {n} characters or more")
    return sum(g in known for g in grams) / len(grams)
