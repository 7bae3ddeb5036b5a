"""``aigc-course train``, ``sample`` and ``evaluate``: the engine from a terminal, for any family.

Examples::

    aigc-course train --model gan --dataset mnist --profile auto --out runs/mnist
    aigc-course train --out runs/mnist --resume --epochs 30     # continue, up to epoch 30
    aigc-course sample --run runs/mnist --n 64 --out samples.png
    aigc-course sample --run runs/ddpm --n 16 --out grid.png --steps 20   # a family's options
    aigc-course evaluate --run runs/mnist
    aigc-course train-gan --dataset mnist ...                   # = train --model gan

A resumed run takes its model family, data set and profile from the checkpoint unless they are
given (``--epochs`` still sets the total).
TensorFlow is imported only when a command runs, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from aigc_course.families import family_names

COMMANDS = ("train", "train-gan", "sample", "evaluate")


def add_arguments(parser: argparse.ArgumentParser, name: str, argv: list[str]) -> None:
    """Add the options of sub-command ``name`` to ``parser`` (``argv``: the command line, which
    names the run whose family's sampling options ``sample`` offers)."""
    if name in ("train", "train-gan"):
        if name == "train":
            parser.add_argument(
                "--model", default=None, metavar="FAMILY",
                help=f"the model family: {', '.join(family_names())} (default gan, or the run's)",
            )  # fmt: skip
        data = parser.add_mutually_exclusive_group()
        data.add_argument("--dataset", default=None, help="mnist or fashion_mnist (images)")
        data.add_argument("--corpus", dest="dataset", default=None, help="tang (text families)")
        parser.add_argument(
            "--profile", default=None,
            help="smoke, cpu, gpu or auto (the default: smoke under AIGC_SMOKE=1, else gpu if a "
            "GPU is visible, else cpu); --resume keeps the run's own profile",
        )  # fmt: skip
        parser.add_argument(
            "--out", default=None, help="run folder (default runs/MODEL_DATA_PROFILE)"
        )
        parser.add_argument(
            "--resume", action="store_true", help="continue from the run folder's checkpoint"
        )
        parser.add_argument(
            "--epochs", type=int, default=None, help="total epochs (overrides the profile's)"
        )
        parser.add_argument(
            "--max-minutes", type=float, default=None, help="stop after this much training time"
        )
        parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        parser.add_argument(
            "--no-eval",
            dest="evaluate",
            action="store_false",
            help="skip the evaluation at the end",
        )
        parser.add_argument("--quiet", action="store_true", help="no progress bar")
    elif name == "sample":
        parser.add_argument("--run", required=True, help="a run folder written by train")
        parser.add_argument("--n", type=int, default=64, help="how many samples (default 64)")
        parser.add_argument(
            "--out", required=True, help="FILE.npy (uint8 array) or FILE.png (grid); text: FILE.txt"
        )
        parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        parser.epilog = (
            "A model family can take more options (e.g. diffusion: --steps); "
            "`aigc-course sample --run RUN --help` lists those of RUN's family."
        )
        _add_family_options(parser, argv)
    elif name == "evaluate":
        parser.add_argument("--run", required=True, help="a run folder written by train")
        parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    else:
        raise ValueError(f"training_cli has no sub-command {name!r}")


def _add_family_options(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """Offer the sampling options of the family of the run named by ``--run`` in ``argv``."""
    peek = argparse.ArgumentParser(add_help=False)
    peek.add_argument("--run")
    run_dir = peek.parse_known_args(argv)[0].run
    if not run_dir:
        return
    from aigc_course.checkpoint import read_manifest
    from aigc_course.errors import CourseError
    from aigc_course.families import get_family

    try:
        manifest = read_manifest(f"{run_dir}/checkpoints")
    except CourseError:  # a damaged run: sampling will say so
        return
    if manifest is None:
        return
    family = get_family(manifest["family"])
    group = parser.add_argument_group(f"sampling options of the {family.name} family")
    for option in family.sample_options:
        group.add_argument(
            option.flag, dest=option.name, type=option.type, default=None,
            choices=option.choices, help=f"{option.help} (default {option.default})",
        )  # fmt: skip


def _resume_command(args: argparse.Namespace, family: str, run_dir: str) -> str:
    words = ["aigc-course", "train", "--model", family]
    words += ["--profile", args.profile] if args.profile else []
    words += ["--out", run_dir, "--resume"]
    if args.epochs is not None:
        words += ["--epochs", str(args.epochs)]
    return shlex.join(words)


def _train(args: argparse.Namespace, name: str) -> int:
    from aigc_course import runs
    from aigc_course.checkpoint import read_manifest
    from aigc_course.families import get_family
    from aigc_course.profiles import get_profile

    family, dataset, profile = "gan" if name == "train-gan" else args.model, args.dataset, None
    manifest = read_manifest(f"{args.out}/checkpoints") if args.resume and args.out else None
    if manifest is not None:  # the run knows what it trains, and with which profile
        family, dataset = family or manifest["family"], dataset or manifest["dataset"]
    family = get_family(family or "gan")
    if manifest is not None and not args.profile and manifest["family"] == family.name:
        profile = family.profile_type(**manifest["profile"])
    profile = profile or get_profile(args.profile or "auto", family.name)
    dataset = family.check_dataset(dataset or family.datasets[0])
    run_dir = args.out or f"runs/{family.name}_{dataset}_{profile.name}"
    try:
        result = runs.train(
            family, dataset, profile, out=run_dir, resume=args.resume, epochs=args.epochs,
            seed=args.seed, evaluate=args.evaluate, progress=not args.quiet,
            max_seconds=None if args.max_minutes is None else 60 * args.max_minutes,
        )  # fmt: skip
    except KeyboardInterrupt:
        # train() already said where the checkpoint is; give the exact command to resume.
        print(f"Resume with: {_resume_command(args, family.name, run_dir)}", file=sys.stderr)
        return 130
    m = result.metrics
    line = f"done: step {m['step']}, epoch {m['epoch']}, {m['train_seconds']:.0f} s of training"
    headline = family.headline(m)
    print(line + (f"; {headline}" if headline else ""))
    print(f"model: {result.run_dir / family.export_name}; samples: {result.run_dir / 'samples'}")
    return 0


def run(args: argparse.Namespace, name: str) -> int:
    """Run sub-command ``name``; return the process exit code."""
    if name in ("train", "train-gan"):
        return _train(args, name)
    if name == "sample":
        from aigc_course.runs import sample_run

        known = {"command", "run", "n", "out", "seed"}
        options = {k: v for k, v in vars(args).items() if k not in known}
        path = sample_run(args.run, args.n, args.out, seed=args.seed, **options)
        print(f"wrote {args.n} samples to {path}")
        return 0
    if name == "evaluate":
        from aigc_course.checkpoint import read_manifest
        from aigc_course.families import get_family
        from aigc_course.runs import evaluate_run

        metrics = evaluate_run(args.run, seed=args.seed)
        family = get_family(read_manifest(f"{args.run}/checkpoints")["family"])
        print(family.headline(metrics) or metrics)
        return 0
    raise ValueError(f"training_cli has no sub-command {name!r}")
