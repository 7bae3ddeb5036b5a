"""Point the instructor at code that reaches for the grader's machinery.

The sandbox and the guard stop the known attacks, but a student's answer still runs inside the
checks, and Python cannot stop code that is called from a check from tampering with it while
it runs. Such code has to look like tampering, though: it patches libraries, walks stack
frames, opens pipes, reads ``/proc``. :func:`suspicious_lines` lists the lines of a submission
that do, among the lines the student wrote (the exercise notebook's own lines are left out).
A flag changes no score: it says where to look.
"""

from __future__ import annotations

import ast

import nbformat

from aigc_course.grading.plan import cell_label, parse

#: attribute names that only machinery-minded code touches
ATTRIBUTES = {
    "_getframe": "reads stack frames",
    "currentframe": "reads stack frames",
    "f_back": "walks stack frames",
    "f_locals": "reads another frame's variables",
    "f_globals": "reads another frame's variables",
    "tb_frame": "reads stack frames",
    "gi_frame": "reads stack frames",
    "__code__": "touches a function's code",
    "__globals__": "reaches a function's module",
    "__closure__": "reaches a function's hidden variables",
    "__defaults__": "changes default arguments",
    "__kwdefaults__": "changes default arguments",
    "__subclasses__": "searches all classes",
    "settrace": "installs a tracer",
    "setprofile": "installs a profiler",
    "meta_path": "changes how modules are imported",
    "path_hooks": "changes how modules are imported",
    "modules": "changes sys.modules",
    "input_transformers_post": "rewrites later cells",
    "input_transformers_cleanup": "rewrites later cells",
    "ast_transformers": "rewrites later cells",
    "set_custom_exc": "hides errors",
    "excepthook": "hides errors",
}
MODULES = {
    "ctypes": "uses ctypes",
    "gc": "walks the garbage collector",
    "inspect": "inspects live objects",
    "builtins": "changes builtins",
    "_thread": "starts raw threads",
}
OS_CALLS = {"write", "read", "dup", "dup2", "fork", "kill", "killpg", "open", "fdopen"}
CALLS = {"exec", "eval", "compile", "__import__", "setattr", "globals", "vars"}


def _imported_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def _findings(tree: ast.AST, modules: set[str]) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Attribute):
            base = node.value.id if isinstance(node.value, ast.Name) else ""
            if node.attr in OS_CALLS and base == "os":
                found.append((line, f"calls os.{node.attr} (file descriptors, processes)"))
            elif ATTRIBUTES.get(node.attr) and (node.attr != "modules" or base == "sys"):
                found.append((line, f"uses .{node.attr}: {ATTRIBUTES[node.attr]}"))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                top = (getattr(node, "module", None) or alias.name).split(".")[0]
                if top in MODULES:
                    found.append((line, f"imports {top}: {MODULES[top]}"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in CALLS:
                found.append((line, f"calls {node.func.id}()"))
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id.startswith("check"):
                    found.append((line, f"rebinds {target.id} (the checks' name)"))
                root = target
                while isinstance(root, ast.Attribute):
                    root = root.value
                if target is not root and isinstance(root, ast.Name) and root.id in modules:
                    found.append((line, f"assigns {ast.unparse(target)} (changes a library)"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if "/proc/" in node.value or "solutions" in node.value:
                found.append((line, f"names {node.value[:40]!r}"))
    return found


def suspicious_lines(
    nb: nbformat.NotebookNode, template: nbformat.NotebookNode | None = None
) -> list[str]:
    """Flags for the lines the student wrote: ``cell 5 `...`, line 2: uses ._getframe``.

    ``template`` is the exercise notebook the student started from; its lines are skipped.
    """
    given = set()
    if template is not None:
        given = {line.strip() for c in template.cells for line in c.source.splitlines()}
    modules = set()
    trees = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        try:
            tree = parse(cell.source)
        except SyntaxError:
            continue
        modules |= _imported_names(tree)
        trees.append((index, cell.source.splitlines(), tree))
    flags = []
    for index, lines, tree in trees:
        reasons: dict[int, list[str]] = {}
        for line, what in sorted(set(_findings(tree, modules))):
            text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
            if text and text not in given:
                reasons.setdefault(line, []).append(what)
        for line, whats in reasons.items():
            flags.append(f"{cell_label(nb, index)}, line {line}: {'; '.join(whats)}")
    return flags
