"""The ``aigc-course`` command. Each sub-command imports its module lazily, so
``aigc-course exercises build`` does not pay for importing TensorFlow."""

from __future__ import annotations

import argparse
import importlib
import sys

# sub-command -> (module, description). Each module provides
# ``add_arguments(parser)`` and ``run(args) -> int``.
COMMANDS: dict[str, tuple[str, str]] = {
    "train-gan": ("aigc_course.training_cli", "train a DCGAN with checkpoints and sample grids"),
    "sample": ("aigc_course.training_cli", "write samples from a trained run's generator"),
    "exercises": ("aigc_course.exercises", "build exercises/ from solutions/ (or --check)"),
    "grade": ("aigc_course.grading", "grade submitted exercise notebooks"),
    "refresh": ("aigc_course.notebooks", "re-execute notebooks in place, reproducibly"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="aigc-course",
        description="Tools for the AIGC course: training, sampling, exercises, grading.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    argv = sys.argv[1:] if argv is None else argv
    wanted = argv[0] if argv else None
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == wanted:  # only the chosen command's module is imported
            mod = importlib.import_module(module)
            mod.add_arguments(p, name) if name in {"train-gan", "sample"} else mod.add_arguments(p)
    args = parser.parse_args(argv)
    mod = importlib.import_module(COMMANDS[args.command][0])
    try:
        if args.command in {"train-gan", "sample"}:
            return int(mod.run(args, args.command) or 0)
        return int(mod.run(args) or 0)
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError) as err:
        print(f"aigc-course {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
