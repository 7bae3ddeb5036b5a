"""Keep the checks out of the student's reach inside the runner's process.

Before any student code runs, the runner imports the checks and everything they use and takes
a snapshot (:func:`take_snapshot`) of every loaded module's namespace and of every class
defined in one. The runner's own code and the checks always run in that pristine world; the
student's world — a patched ``np.isclose``, a rebound ``aigc_course.checks.ch04.check_jsd``,
a replaced ``sys.modules`` entry, an import hook, patched builtins — is swapped in only while
the student's cells run, and swapped out again as soon as they end.

:func:`install_audit_hook` adds a Python audit hook (it cannot be removed) that refuses, once
armed, the tricks that would defeat the swap: changing a protected function's code or default
arguments, tracing or profiling hooks, more audit hooks, the garbage collector's object lists,
``ctypes``, and opening ``/proc/*/mem``.

The swap and the hook use only references captured at start-up (closures, never module
globals or builtins looked up later), because they run right after student code. What they
cannot stop is the student's answer itself doing such things while a check calls it, or code
that digs the runner's own frames out of the stack; :mod:`aigc_course.grading.flags` points
instructors at answers that reach for that machinery.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import operator
import os
import stat
import sys
from collections.abc import Callable
from types import FunctionType, ModuleType

Swap = Callable[[], Callable[[], None]]  # swap(): install one world, return the way back

#: Audit events refused once the hook is armed.
REFUSED_EVENTS = frozenset(
    {
        "sys.settrace",
        "sys.setprofile",
        "sys.addaudithook",
        "sys._current_frames",
        "gc.get_objects",
        "gc.get_referrers",
        "gc.get_referents",
    }
)
FUNCTION_INTERNALS = frozenset({"__code__", "__defaults__", "__kwdefaults__"})


class NotAllowedWhileGrading(RuntimeError):
    """Raised by the audit hook for an operation refused while grading."""


def _modules_imported_by(module: ModuleType) -> set[str]:
    """Names of ``aigc_course`` modules a module imports anywhere, functions included."""
    path = getattr(module, "__file__", None)
    if not path or not path.endswith(".py"):
        return set()
    with open(path, encoding="utf-8") as source:
        tree = ast.parse(source.read())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return {n for n in names if n == "aigc_course" or n.startswith("aigc_course.")}


def run_preamble(preamble: str) -> None:
    """Run the solution's preamble (its imports and ``@check`` functions), then import every
    ``aigc_course`` module the checks use, even inside a function, so all are in the snapshot."""
    exec(compile(preamble, "<solution preamble>", "exec"), {"__name__": "__grader__"})
    if "numpy" in sys.modules:  # numpy loads these on first use: have them in the snapshot
        importlib.import_module("numpy.random")
        importlib.import_module("numpy.linalg")
    pending = [n for n in sys.modules if n.startswith("aigc_course.checks")]
    done: set[str] = set()
    while pending:
        name = pending.pop()
        if name not in done:
            done.add(name)
            module = sys.modules.get(name) or importlib.import_module(name)
            pending.extend(_modules_imported_by(module) - done)


def take_snapshot() -> tuple[Swap, set[int]]:
    """Snapshot every loaded module and class; return ``(to_pristine, protected function ids)``.

    ``to_pristine()`` puts back every namespace that differs from the snapshot and returns a
    function that puts the replaced (student's) versions back. ``to_pristine(full=False)``
    does so only for the few modules the runner's own code uses (:data:`RUNNER_MODULES`):
    cheap enough for after every cell.
    """
    is_, get_module = operator.is_, sys.modules.get
    spaces: list[tuple[str, ModuleType, dict, tuple, tuple]] = []
    classes: list[tuple[type, tuple, tuple]] = []
    seen: set[int] = set()
    for name, module in list(sys.modules.items()):
        if isinstance(module, ModuleType) and name not in ("__main__", "__mp_main__"):
            space = module.__dict__
            spaces.append((name, module, space, tuple(space), tuple(space.values())))
            for value in space.values():  # no attribute lookups: lazy modules would load
                if issubclass(type(value), type) and id(value) not in seen:
                    seen.add(id(value))
                    if value.__dict__.get("__module__") == name:
                        attrs = value.__dict__
                        classes.append((value, tuple(attrs), tuple(attrs.values())))
    lists = [(target, tuple(target)) for target in (sys.path, sys.meta_path, sys.path_hooks)]
    # these three namespaces are put back first, with captured references only: the rest of
    # the swap then runs on pristine builtins and module globals
    first = [(s[2], dict(zip(s[3], s[4], strict=True))) for s in spaces if s[0] in RUNNER_MODULES]
    set_class, del_class = type.__setattr__, type.__delattr__

    def same(keys: tuple, values: tuple, mapping) -> bool:
        return (
            len(values) == len(mapping)
            and all(map(is_, values, mapping.values()))
            and all(map(is_, keys, mapping))
        )

    def to_pristine(full: bool = True) -> Callable[[], None]:
        undo: list[tuple[str, object, object]] = []
        for space, pristine in first:
            undo.append(("dict", space, space.copy()))
            space.clear()
            space.update(pristine)
        for name, module, space, keys, values in spaces if full else ():
            if get_module(name) is not module:
                undo.append(("module", name, get_module(name)))
                sys.modules[name] = module
            if not same(keys, values, space):
                undo.append(("dict", space, space.copy()))
                # submodules imported since the snapshot stay: lazy packages (numpy) need them
                kept = {k: v for k, v in space.items() if get_module(f"{name}.{k}") is v}
                space.clear()
                space.update(zip(keys, values, strict=True))
                space.update(kept)
        for cls, keys, values in classes if full else ():
            if not same(keys, values, cls.__dict__):
                undo.append(("class", cls, dict(cls.__dict__)))
                _set_class(cls, dict(zip(keys, values, strict=True)), set_class, del_class)
        for target, pristine in lists if full else ():
            if len(target) != len(pristine) or not all(map(is_, pristine, target)):
                undo.append(("list", target, list(target)))
                target[:] = pristine

        def back() -> None:
            for kind, where, content in reversed(undo):
                if kind == "dict":
                    where.clear()
                    where.update(content)
                elif kind == "module":
                    if content is None:
                        sys.modules.pop(where, None)
                    else:
                        sys.modules[where] = content
                elif kind == "class":
                    _set_class(where, content, set_class, del_class)
                else:
                    where[:] = content

        return back

    protected = {id(v) for s in spaces for v in s[4] if type(v) is FunctionType}
    for _, _, values in classes:
        for value in values:
            if type(value) in (staticmethod, classmethod):
                value = value.__func__
            if type(value) is FunctionType:
                protected.add(id(value))
    return to_pristine, protected


#: The modules the runner's own code uses between cells, put back first by every swap.
RUNNER_MODULES = frozenset(
    {"builtins", "sys", "os", "posix", "signal", "_signal", "gc", "json", "json.decoder"}
    | {"json.encoder", "json.scanner", __name__, "aigc_course.grading.runner"}
)


def _set_class(cls: type, content: dict, set_class, del_class) -> None:
    for key in [k for k in cls.__dict__ if k not in content]:
        try:
            del_class(cls, key)
        except (AttributeError, TypeError):
            pass
    for key, value in content.items():
        if cls.__dict__.get(key, content) is not value:
            try:
                set_class(cls, key, value)
            except (AttributeError, TypeError):
                pass  # read-only special attributes (e.g. __dict__) cannot change anyway


def install_audit_hook(protected: set[int]) -> Callable[[], None]:
    """Install the hook, inactive; return the function that arms it (for good)."""
    armed = [False]
    refused, internals, error = REFUSED_EVENTS, FUNCTION_INTERNALS, NotAllowedWhileGrading
    ident, readlink, lstat, is_link = builtins.id, os.readlink, os.lstat, stat.S_ISLNK
    fsdecode, str_type = os.fsdecode, str

    def names_proc_mem(path: object) -> bool:
        if type(path) is bytes:
            path = fsdecode(path)
        if type(path) is not str_type:
            return False
        for _ in range(40):  # follow symbolic links on the last component
            head, _, last = path.rstrip("/").rpartition("/")
            if last == "mem":
                return True
            try:
                if not is_link(lstat(path).st_mode):
                    return False
                target = readlink(path)
            except OSError:
                return False
            path = target if target.startswith("/") else f"{head}/{target}"
        return True

    def hook(event: str, args: tuple) -> None:
        if not armed[0]:
            return
        if event in refused or event.startswith("ctypes."):
            raise error(f"{event} is not allowed while grading")
        if event == "object.__setattr__" or event == "object.__delattr__":
            if args[1] in internals and ident(args[0]) in protected:
                raise error(f"changing a library function's {args[1]} is not allowed while grading")
        elif event == "open" and names_proc_mem(args[0]):
            raise error("reading process memory is not allowed while grading")

    sys.addaudithook(hook)

    def arm() -> None:
        armed[0] = True

    return arm
