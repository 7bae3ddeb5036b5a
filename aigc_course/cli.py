"""The ``aigc-course`` command. Each sub-command imports its module lazily, so
``aigc-course exercises build`` does not pay for importing TensorFlow.

Errors the user can fix (:class:`aigc_course.errors.CourseError`) are printed as one line with
exit code 2 (1 for a diverged training run); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from aigc_course.errors import CourseError

# sub-command -> (module, description). Each module provides ``add_arguments(parser)`` and
# ``run(args) -> int``; the engine's commands (ENGINE) take the command's name as well.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("aigc_course.training_cli", "train a model (gan, diffusion, ...) with checkpoints"),
    "train-gan": ("aigc_course.training_cli", "train the DCGAN (= train --model gan)"),
    "sample": ("aigc_course.training_cli", "write samples from a trained run"),
    "evaluate": ("aigc_course.training_cli", "score a trained run (FID with its floor, bits, ...)"),
    "exercises": ("aigc_course.exercises", "build exercises/ from solutions/ (or --check)"),
    "grade": ("aigc_course.grading", "grade submitted exercise notebooks"),
    "refresh": ("aigc_course.notebooks", "re-execute notebooks in place, reproducibly"),
}
ENGINE = {"train", "train-gan", "sample", "evaluate"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="aigc-course",
        description="Tools for the AIGC course: training, sampling, exercises, grading.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    argv = sys.argv[1:] if argv is None else argv
    wanted = argv[0] if argv else None
    try:
        for name, (module, help_text) in COMMANDS.items():
            p = sub.add_parser(name, help=help_text, description=help_text)
            if name == wanted:  # only the chosen command's module is imported
                mod = importlib.import_module(module)
                if name in ENGINE:
                    mod.add_arguments(p, name, argv[1:])
                else:
                    mod.add_arguments(p)
        args = parser.parse_args(argv)
        mod = importlib.import_module(COMMANDS[args.command][0])
        return int((mod.run(args, args.command) if args.command in ENGINE else mod.run(args)) or 0)
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except CourseError as err:
        print(f"aigc-course {wanted}: error: {err}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())
