"""Generic checks for exercises: compact, deterministic messages that say what went wrong.

A chapter's checks live in ``aigc_course.checks.chNN`` and are built from these helpers::

    from aigc_course.checks import check, check_close, check_shape, ok

    @check
    def check_relu(relu):
        check_close("relu([-1, 2])", relu(np.array([-1.0, 2.0])), [0.0, 2.0])
        ok("relu is correct")

Every helper returns ``None`` when the value is right and raises :class:`CheckFailed` (an
``AssertionError``) otherwise, with what was expected, what came back and a hint. Values may be
NumPy arrays, Python numbers or TensorFlow tensors; they are read with ``np.asarray``, so this
module never imports TensorFlow.

Wrap each public check in :func:`check` (or call it through :func:`run_check`): when the
student's function still raises the stub's ``NotImplementedError``, the check raises
:class:`NotAttempted` instead, which is both a ``CheckFailed`` and a ``NotImplementedError``.
In Jupyter both exceptions print as one or two plain lines rather than a traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

F = TypeVar("F", bound=Callable[..., Any])

NOT_ATTEMPTED = "not attempted yet: replace the `raise NotImplementedError` line with your code"
RETURNED_NONE = "returned None — did you forget `return`?"

__all__ = [
    "CheckFailed",
    "NotAttempted",
    "check",
    "run_check",
    "ok",
    "check_close",
    "check_shape",
    "check_dtype",
    "check_callable",
    "check_true",
    "check_finite",
    "check_letter",
    "check_choice",
    "check_own_code",
    "LIBRARIES",
    "is_library_function",
    "check_uses",
]


class CheckFailed(AssertionError):
    """A check did not pass. ``str(err)`` is the message plus, if any, a ``hint:`` line."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        self.reread: str | None = None
        super().__init__(message if hint is None else f"{message}\nhint: {hint}")

    def add_reread(self, where: str) -> None:
        """Point at the section of the chapter that teaches what went wrong."""
        if self.reread is None:
            self.reread = where
            self.args = (f"{self.args[0]}\nreread: {where}",)

    def _render_traceback_(self) -> list[str]:
        # IPython shows these lines instead of a traceback: the message is the whole story.
        lines = [f"✘ {self.message}"]
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        if self.reread:
            lines.append(f"  reread: {self.reread}")
        return lines


class NotAttempted(CheckFailed, NotImplementedError):
    """The student's code still raises the stub's ``NotImplementedError``."""

    def __init__(self, name: str, stub_hint: str = "") -> None:
        super().__init__(f"{name}: {NOT_ATTEMPTED}", stub_hint or None)


def _not_attempted(name: str, err: NotImplementedError) -> NotAttempted:
    return err if isinstance(err, NotAttempted) else NotAttempted(name, str(err))


def check(fn: F | None = None, *, reread: str | None = None) -> Any:
    """Decorator for a check function: a ``NotImplementedError`` raised by the student's code
    (the untouched stub) becomes :class:`NotAttempted` named after the check. With
    ``@check(reread="chapter 04, section 3 (...)")`` every failure also says where to reread."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except NotImplementedError as err:
                raise _not_attempted(fn.__name__, err) from None
            except CheckFailed as err:
                if reread:
                    err.add_reread(reread)
                raise

        return wrapper  # type: ignore[return-value]

    return decorate(fn) if fn is not None else decorate


def run_check(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn(*args, **kwargs)`` as :func:`check` would: a stub's ``NotImplementedError``
    becomes :class:`NotAttempted`. Returns what ``fn`` returns."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as err:
        raise _not_attempted(getattr(fn, "__name__", "check"), err) from None


def ok(message: str) -> None:
    """Print a one-line success message: ``✔ <message>``."""
    print(f"✔ {message}")


def _fmt(value: Any) -> str:
    """A short, deterministic rendering of a number, array or shape."""
    if isinstance(value, tuple):
        return "(" + ", ".join(_fmt(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if value is None or isinstance(value, str | bool | int | np.integer):
        return str(value)
    arr = np.asarray(value)
    if arr.ndim == 0:
        return f"{arr.item():.6g}" if arr.dtype.kind in "fc" else str(arr.item())
    flat = arr.ravel()
    head = ", ".join(_fmt(v) for v in flat[:4]) + (", ..." if flat.size > 4 else "")
    return f"array of shape {_fmt(arr.shape)} [{head}]"


def _as_array(name: str, got: Any, hint: str | None) -> np.ndarray:
    if got is None:
        raise CheckFailed(f"{name} {RETURNED_NONE}", hint)
    try:
        arr = np.asarray(got)
    except Exception as err:  # e.g. a symbolic Keras tensor or a ragged list
        raise CheckFailed(
            f"{name}: could not read the result as numbers ({type(got).__name__}: {err})", hint
        ) from None
    if arr.dtype == object:
        raise CheckFailed(
            f"{name}: could not read the result as numbers (got {type(got).__name__})",
            hint or "return a NumPy array, a tensor or a number, not a ragged list",
        )
    return arr


def _shape_of(got: Any) -> tuple[int | None, ...]:
    shape = getattr(got, "shape", None)
    if shape is None:
        return np.asarray(got).shape
    dims = getattr(shape, "as_list", None)  # tf.TensorShape
    if dims is not None and shape.rank is not None:
        shape = dims()
    return tuple(None if d is None else int(d) for d in shape)


def _shapes_match(got: Sequence[int | None], expected: Sequence[int | None]) -> bool:
    return len(got) == len(expected) and all(
        e is None or g == e for g, e in zip(got, expected, strict=True)
    )


def _shape_hint(got: tuple, expected: tuple) -> str | None:
    """Name the usual shape mistakes: a missing/extra channel or batch axis, swapped axes."""
    if _shapes_match(got, expected[:-1]) and expected[-1:] == (1,):
        return "the channel axis is missing: add it with x[..., None] or tf.expand_dims(x, -1)"
    if got[-1:] == (1,) and _shapes_match(got[:-1], expected):
        return "there is an extra axis of size 1 at the end: remove it with np.squeeze(x, -1)"
    if _shapes_match(got, expected[1:]):
        return "the batch axis is missing: the first axis should count the examples"
    if len(expected) == 0 and len(got) > 0:
        return "expected a single number: did you forget to average (np.mean / tf.reduce_mean)?"
    if len(got) == len(expected) and None not in expected and sorted(got) == sorted(expected):
        return "the axes are in the wrong order: check how you transposed or reshaped"
    return None


def check_shape(
    name: str, got: Any, expected_shape: Sequence[int | None], hint: str | None = None
) -> None:
    """``got`` (array, tensor or anything with ``.shape``) has ``expected_shape``; ``None`` in
    ``expected_shape`` matches any size (e.g. the batch axis of a Keras model's output)."""
    if got is None:
        raise CheckFailed(f"{name} {RETURNED_NONE}", hint)
    expected = tuple(expected_shape)
    shape = _shape_of(got)
    if not _shapes_match(shape, expected):
        raise CheckFailed(
            f"{name}: expected shape {_fmt(expected)}, got {_fmt(shape)}",
            hint or _shape_hint(shape, expected),
        )


def _dtype_name(dtype: Any) -> str:
    if not isinstance(dtype, type | str):  # an array or tensor, or a dtype object itself
        dtype = getattr(dtype, "dtype", dtype)
    name = getattr(dtype, "name", None)
    if isinstance(name, str):
        return name
    try:
        return np.dtype(dtype).name
    except TypeError:
        return str(dtype)


def check_dtype(name: str, got: Any, expected_dtype: Any, hint: str | None = None) -> None:
    """``got`` has dtype ``expected_dtype`` (a name such as ``"float32"``, a NumPy or a TF dtype)."""
    if got is None:
        raise CheckFailed(f"{name} {RETURNED_NONE}", hint)
    if not hasattr(got, "dtype"):
        got = np.asarray(got)
    have, want = _dtype_name(got), _dtype_name(expected_dtype)
    if have == want:
        return
    if hint is None and have == "uint8" and want.startswith("float"):
        hint = f"convert the pixels with x.astype(np.{want}) or tf.cast(x, tf.{want})"
    elif hint is None and have == "float64" and want == "float32":
        hint = "NumPy computes in float64 by default: convert with x.astype(np.float32)"
    raise CheckFailed(f"{name}: expected dtype {want}, got {have}", hint)


def check_callable(name: str, obj: Any) -> None:
    """``obj`` is a function (or another callable, such as a Keras model)."""
    if obj is None:
        raise CheckFailed(f"{name} is None", "define it (def ...) and run its cell first")
    if not callable(obj):
        raise CheckFailed(
            f"{name}: expected a function, got {type(obj).__name__}",
            "pass the function itself, without calling it: f, not f()",
        )


def check_true(condition: Any, message: str, hint: str | None = None) -> None:
    """``condition`` is true; otherwise fail with ``message`` (say what was expected)."""
    if not bool(condition):
        raise CheckFailed(message, hint)


def check_letter(
    name: str, answer: Any, letters: str = "abcd", not_attempted: str | None = None
) -> str:
    """A multiple-choice answer: one of ``letters`` (any case, spaces ignored); returns it lowered.

    With ``not_attempted`` (a hint saying what to write), an empty answer (None or "") counts as
    not attempted rather than wrong.
    """
    if not_attempted is not None and (answer is None or answer == ""):
        raise NotAttempted(name, not_attempted)
    if not isinstance(answer, str) or answer.strip().lower() not in tuple(letters):
        choices = ", ".join(letters[:-1]) + f" or {letters[-1]}"
        raise CheckFailed(f"expected one letter {choices}, got {answer!r}")
    return answer.strip().lower()


def check_finite(name: str, got: Any) -> None:
    """``got`` holds no NaN or infinity."""
    arr = _as_array(name, got, None)
    if arr.dtype.kind not in "fc":
        return
    bad = ~np.isfinite(arr)
    if bad.any():
        nans, infs = int(np.isnan(arr).sum()), int(np.isinf(arr).sum())
        raise CheckFailed(
            f"{name}: expected finite numbers, got {nans} NaN and {infs} inf of {arr.size} values",
            "NaN and inf usually come from log(0) or a division by zero: work with logits "
            "(from_logits=True) or add a small epsilon",
        )


def check_close(
    name: str,
    got: Any,
    expected: Any,
    *,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    hint: str | None = None,
) -> None:
    """``got`` equals ``expected`` within ``atol + rtol * |expected|``, element by element,
    with the same shape."""
    arr = _as_array(name, got, hint)
    want = np.asarray(expected, dtype=np.float64)
    if arr.shape != want.shape:
        raise CheckFailed(
            f"{name}: expected shape {_fmt(want.shape)}, got {_fmt(arr.shape)}",
            hint or _shape_hint(arr.shape, want.shape),
        )
    if arr.dtype.kind not in "biufc":
        raise CheckFailed(f"{name}: expected numbers, got dtype {arr.dtype.name}", hint)
    have = arr.astype(np.float64)
    try:
        check_finite(name, have)
    except CheckFailed as err:
        raise CheckFailed(err.message, hint or err.hint) from None
    close = np.isclose(have, want, atol=atol, rtol=rtol)
    if close.all():
        return
    if hint is None and np.any(want != 0) and np.allclose(have, -want, atol=atol, rtol=rtol):
        hint = "the sign looks flipped"
    if want.ndim == 0:
        raise CheckFailed(f"{name}: expected {_fmt(want)}, got {_fmt(have)}", hint)
    where = tuple(int(i) for i in np.argwhere(~close)[0])
    raise CheckFailed(
        f"{name}: {int((~close).sum())} of {want.size} values differ; first at index "
        f"{_fmt(where)}: expected {_fmt(want[where])}, got {_fmt(have[where])}",
        hint,
    )


def check_choice(
    name: str, answer: Any, right: str, why_not: dict[str, str], not_attempted: str
) -> str:
    """A multiple-choice answer whose distractors are real misconceptions: a wrong letter fails
    with the misconception it stands for (``why_not[letter]``). Returns the letter."""
    letter = check_letter(name, answer, not_attempted=not_attempted)
    if letter != right:
        raise CheckFailed(f"{answer!r} is not right: {why_not[letter]}")
    return letter


def _called_names(source: str) -> set[str]:
    bare, attributes, _ = _calls(source)
    return bare | attributes


def _source(fn: Any) -> str | None:
    import inspect

    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):  # no source to read (e.g. defined by exec): judge by values
        return None
    name = getattr(fn, "__name__", "")
    head = "\n".join(source.lstrip().splitlines()[:5])  # decorators may come first
    if f"def {name}" not in head and "lambda" not in head:
        return None  # linecache found some other file's lines: judge by values only
    return source


#: Packages whose functions are never the student's own code.
LIBRARIES = frozenset({"aigc_course", "keras", "tensorflow", "numpy", "scipy"})


def check_own_code(
    name: str, fn: Any, forbidden: Sequence[str], why: str, _seen: set[int] | None = None
) -> None:
    """``fn`` is the student's own code: neither one of the course's or a library's functions
    itself, nor a function that calls any of ``forbidden`` (read from its source with ``ast``).

    A call by bare name is resolved in ``fn``'s globals: a library function is refused whatever
    name it is called by (``pr = bench.precision_recall``), and a function the student wrote is
    their own code even when named like the library's (``def knn_radii``): it is read in turn."""
    if is_library_function(fn):
        raise CheckFailed(
            f"{name} is {fn.__module__}.{getattr(fn, '__name__', '?')}, a library function, "
            "not your own code",
            why,
        )
    source = _source(fn)
    if source is None:
        return
    seen = {id(fn)} if _seen is None else _seen | {id(fn)}
    bare, attributes, imported = _calls(source)
    used = sorted(attributes & set(forbidden))
    if used:  # bench.knn_radii(...): the library's, by its name
        raise CheckFailed(f"{name} calls {used[0]}, the library's version of the answer", why)
    for called in sorted(bare):
        # A name imported inside the function is not the global one: judge it by its name.
        target = None if called in imported else getattr(fn, "__globals__", {}).get(called)
        if is_library_function(target):
            if called in forbidden or getattr(target, "__name__", "") in forbidden:
                real = f"{target.__module__}.{getattr(target, '__name__', called)}"
                raise CheckFailed(f"{name} calls {called} ({real}), the library's version of the "
                                  "answer", why)  # fmt: skip
        elif callable(target) and id(target) not in seen and called in forbidden:
            check_own_code(called, target, forbidden, why, seen)  # the student's own helper
        elif target is None and called in forbidden:  # e.g. imported inside the function
            raise CheckFailed(f"{name} calls {called}, the library's version of the answer", why)


def is_library_function(fn: Any) -> bool:
    """Whether ``fn`` is a callable from one of :data:`LIBRARIES` (never the student's code)."""
    module = getattr(fn, "__module__", None) or ""
    return callable(fn) and module.split(".")[0] in LIBRARIES


def _calls(source: str) -> tuple[set[str], set[str], set[str]]:
    """What ``source`` calls and imports: ``(bare, attributes, imported)`` for ``f(...)``,
    ``x.f(...)`` and names bound by ``import`` statements (e.g. inside a function)."""
    import ast
    import re
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:  # e.g. a lambda cut out of a longer line: fall back to the words
        bare = set(re.findall(r"(?<![\w.])(\w+)\s*\(", source))
        return bare, set(re.findall(r"\.\s*(\w+)\s*\(", source)), set()
    bare, attributes, imported = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name):
                bare.add(node.func.id)
            elif isinstance(node.func, ast.Attribute):
                attributes.add(node.func.attr)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            imported |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    return bare, attributes, imported


def check_uses(name: str, fn: Any, required: str, why: str) -> None:
    """``fn``'s source calls ``required`` (e.g. ``BinaryAccuracy``), read with ``ast``."""
    source = _source(fn)
    if source is None or "NotImplementedError" in source:
        return  # an untouched stub: calling it reports "not attempted"
    called = _called_names(source)
    for helper in list(called):  # one level down: the student's own helper functions
        inner = getattr(fn, "__globals__", {}).get(helper)
        if inner is not fn and callable(inner) and (text := _source(inner)) is not None:
            called |= _called_names(text)
    if required not in called:
        raise CheckFailed(f"{name} does not use {required}", why)
