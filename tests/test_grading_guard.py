"""The runner's guard on its own: the snapshot puts back modules, classes, ``sys.modules``,
import hooks and builtins and then gives the student's versions back; the audit hook refuses
the tricks that would defeat it. Runs in a child process: an audit hook cannot be removed."""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import builtins, os, sys, tempfile, types
    from aigc_course.grading import guard

    victim = types.ModuleType("victim")
    exec("class C:\\n    def f(self):\\n        return 1\\ndef g():\\n    return 2", victim.__dict__)
    sys.modules["victim"] = victim
    original_max, original_f = builtins.max, victim.C.__dict__["f"]
    to_pristine, protected = guard.take_snapshot()
    arm = guard.install_audit_hook(protected)
    arm()

    # the student's world: everything patched
    victim.g = lambda: 99
    victim.C.f = lambda self: 99
    victim.extra = "added"
    builtins.max = lambda *a, **k: 0
    sys.modules["victim"] = types.ModuleType("fake")
    sys.path.insert(0, "/nowhere")
    class Finder:
        def find_spec(self, *args):
            return None

    sys.meta_path.insert(0, Finder())

    back = to_pristine()
    assert sys.modules["victim"] is victim, "sys.modules entry not put back"
    assert victim.g() == 2 and victim.C().f() == 1, "module or class not put back"
    assert not hasattr(victim, "extra") and builtins.max is original_max
    assert "/nowhere" not in sys.path and not any(isinstance(f, Finder) for f in sys.meta_path)
    back()
    assert victim.g() == 99 and victim.C().f() == 99 and victim.extra == "added"
    assert sys.path[0] == "/nowhere" and builtins.max(1, 2) == 0, "student's world not given back"
    builtins.max = original_max

    link = os.path.join(tempfile.mkdtemp(), "innocent")
    os.symlink("/proc/self/mem", link)
    attempts = {
        "code": lambda: setattr(original_f, "__code__", (lambda s: 0).__code__),
        "kwdefaults": lambda: setattr(guard.take_snapshot, "__kwdefaults__", {}),
        "trace": lambda: sys.settrace(lambda *a: None),
        "profile": lambda: sys.setprofile(lambda *a: None),
        "gc": lambda: __import__("gc").get_objects(),
        "ctypes": lambda: __import__("ctypes").CDLL(None),
        "mem": lambda: open("/proc/self/mem", "rb"),
        "mem link": lambda: open(link, "rb"),
    }
    for name, attempt in attempts.items():
        try:
            attempt()
        except guard.NotAllowedWhileGrading:
            continue
        raise SystemExit(f"not refused: {name}")

    seen = []
    sys.addaudithook(lambda event, args: seen.append(event))  # silently not added
    open(os.devnull, "rb").close()
    assert seen == [], "a second audit hook was added"

    def own():
        return 1

    own.__defaults__ = ()  # the student's own functions are theirs to change
    print("guarded")
    """
)


def test_snapshot_restores_and_returns_and_the_hook_refuses():
    done = subprocess.run([sys.executable, "-I", "-c", SCRIPT], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "guarded", done.stderr[-2000:]
