"""Hints that lead, not tell: no stub and no first hint holds its answer; every exercise has graded
hints; ``hint()`` reveals them one at a time and the grader can count them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aigc_course import hints
from aigc_course.exercises import find_exercises, read_notebook

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
_BLOCK = re.compile(r"(?ms)^[ \t]*### BEGIN SOLUTION[ \t]*\n(?P<body>.*?)^[ \t]*### END SOLUTION")
_STUB = re.compile(r"^\s*###\s*HINT:\s*(?P<text>.*?)\s*$", re.M)
WINDOW = 5  # this many consecutive tokens of an answer line may not appear in a stub or hint


def tokens(text: str) -> list[str]:
    """Normalised tokens: names, numbers and single symbols; quotes and spacing dropped."""
    return re.findall(r"\w+|[^\w\s\"']", text)


def leaked(
    answer_lines: list[str], text: str, contract: frozenset[str] = frozenset()
) -> str | None:
    """The first answer line with ``WINDOW`` consecutive tokens (or all, if fewer, and at least
    4) that appear in a row in ``text``. A run made only of symbols, numbers and the names in
    ``contract`` (the function's parameters) is the contract's shape, such as
    ``(vocab_size, vocab_size)``, not the answer."""
    said = " " + " ".join(tokens(text)) + " "
    for line in answer_lines:
        got = tokens(line)
        if got[:1] == ["return"]:
            got = got[1:]
        if len(got) < 4:
            continue
        size = min(WINDOW, len(got))
        for start in range(len(got) - size + 1):
            window = got[start : start + size]
            words = [t for t in window if re.match(r"[A-Za-z_]", t)]
            if not set(words) - contract:
                continue
            if " " + " ".join(window) + " " in said:
                return line.strip()
    return None


def _blocks():
    """``(notebook, exercise id, answer lines, stub text)`` for every code solution block."""
    for path in SOLUTIONS:
        nb = read_notebook(path)
        graded = {e.cell_id: e.id for e in find_exercises(nb, path.name)}
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            for match in _BLOCK.finditer(cell.source):
                body = match["body"]
                stub = _STUB.search(body)
                lines = [
                    line
                    for line in body.splitlines()
                    if line.strip() and not line.strip().startswith("#")
                ]
                exercise = next(
                    graded[c.id] for c in nb.cells[index:] if c.id in graded
                )  # this cell or the next graded one
                signature = re.search(r"def \w+\((.*?)\)", cell.source)
                params = re.findall(r"\w+", signature[1]) if signature else []
                yield path.name, exercise, lines, stub["text"] if stub else "", frozenset(params)


BLOCKS = [pytest.param(*b, id=b[1]) for b in _blocks()]


@pytest.mark.parametrize(("notebook", "exercise", "answer", "stub", "params"), BLOCKS)
def test_no_stub_and_no_first_hint_contains_the_answer(notebook, exercise, answer, stub, params):
    assert stub, f"{notebook}: the {exercise} stub has no `### HINT:` contract"
    assert leaked(answer, stub, params) is None, f"the stub gives away: {leaked(answer, stub)}"
    first = hints.hints_for(exercise)[0]
    assert leaked(answer, first, params) is None, f"the first hint gives away: {first}"
    assert f'hint("{exercise}")' in stub, "the stub should say how to ask for a hint"


@pytest.mark.parametrize(
    ("answer", "giveaway"),
    [  # hints the course used to have (issue 15): the detector must catch them
        (
            ["p = np.exp(z - z.max())", "return p / p.sum()"],
            "z = logits / temperature; p = exp(z - z.max()); return p / p.sum()",
        ),
        (
            ["t = np.linspace(0.0, 1.0, steps)[:, None]"],
            "t = np.linspace(0, 1, steps)[:, None]; then (1 - t) * z0 + t * z1",
        ),
        (
            ["return dict(Counter(m.modality for m in rows))"],
            "collections.Counter(m.modality for m in rows) is a dict of counts",
        ),
    ],
)
def test_the_leak_detector_catches_the_old_hints(answer, giveaway):
    assert leaked(answer, giveaway) is not None


def test_every_exercise_has_graded_hints_and_every_hint_an_exercise():
    every = [e.id for path in SOLUTIONS for e in find_exercises(read_notebook(path), path.name)]
    twice = sorted({i for i in every if every.count(i) > 1})
    assert not twice, f"exercise ids used in two chapters (hint() could not tell them apart): {twice}"
    ids = set(every)
    known = hints.all_hints()
    assert set(known) == ids
    for exercise, steps in known.items():
        assert len(steps) >= 2, f"{exercise}: give at least a concept and a function hint"
        assert len(set(steps)) == len(steps)


def test_hint_reveals_one_step_at_a_time_and_prints_a_marker(capsys, monkeypatch):
    monkeypatch.setattr(hints, "_opened", {})
    steps = hints.hints_for("jsd")
    hints.hint("jsd")
    first = capsys.readouterr().out
    assert first.startswith(f"[hint 1/{len(steps)} · jsd]\n{steps[0]}\n")
    assert steps[1] not in first
    hints.hint("jsd")
    assert steps[1] in capsys.readouterr().out
    for _ in range(len(steps) + 2):  # past the last one: the last again
        hints.hint("jsd")
    assert capsys.readouterr().out.rstrip().endswith(steps[-1])
    hints.hint("jsd", 1)
    assert steps[0] in capsys.readouterr().out


def test_an_unknown_exercise_gets_a_clear_error():
    with pytest.raises(ValueError, match="no exercise .jds."):
        hints.hint("jds")
    with pytest.raises(ValueError, match="Did you mean 'lerp'"):
        hints.hint("ler")


def test_opened_hints_are_counted_from_outputs_and_calls():
    outputs = ["[hint 1/3 · jsd]\nx\n", "[hint 2/3 · jsd]\ny\n", "[hint 1/2 · lerp]\n"]
    sources = ['hint("lerp")\nhint("lerp")', "hint('optimal_d', 3)", "x = 1"]
    assert hints.opened_in(outputs, sources) == {"jsd": 2, "lerp": 2, "optimal_d": 3}
    assert hints.opened_in([], []) == {}


def _is_multiple_choice(nb, exercise) -> bool:
    """An exercise whose every solution block only assigns a literal (a letter, a few letters, a
    dict of names): the student picks, rather than computes or writes."""
    import ast
    import textwrap

    graded = next(i for i, c in enumerate(nb.cells) if c.id == exercise.cell_id)
    ids = {e.cell_id for e in find_exercises(nb)}
    blocks = []
    for cell in reversed(nb.cells[: graded + 1]):
        if cell.id in ids and cell.id != exercise.cell_id:
            break
        if cell.cell_type == "code":
            blocks += [m["body"] for m in _BLOCK.finditer(cell.source)]
    for body in blocks:
        try:
            tree = ast.parse(textwrap.dedent(body))
        except SyntaxError:  # e.g. `return` in a function's body: code, not a choice
            return False
        for node in tree.body:
            if not (
                isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant | ast.Dict)
            ):
                return False
    return bool(blocks)


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_each_chapter_has_an_experiment_and_at_most_a_third_multiple_choice(path):
    nb = read_notebook(path)
    exercises = find_exercises(nb, path.name)
    total = sum(e.points for e in exercises)
    choice = sum(e.points for e in exercises if _is_multiple_choice(nb, e))
    assert choice <= total / 3, f"{path.name}: {choice:g} of {total:g} points are multiple choice"
    experiments = [e for e in exercises if e.id.endswith("_experiment")]
    assert experiments and all(e.points >= 2 for e in experiments), "one experiment, 2 points"
    assert all(not _is_multiple_choice(nb, e) for e in experiments)
