"""``aigc-course train-gan`` and ``aigc-course sample``: the trainer from a terminal.

Examples::

    aigc-course train-gan --dataset mnist --profile auto --out runs/mnist
    aigc-course train-gan --out runs/mnist --resume --epochs 30   # continue, up to epoch 30
    aigc-course sample --run runs/mnist --n 64 --out samples.png

TensorFlow is imported only when a command runs, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import shlex
import sys

PROFILE_NAMES = ("auto", "smoke", "cpu", "gpu")


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """Add the options of sub-command ``name`` (``"train-gan"`` or ``"sample"``)."""
    if name == "train-gan":
        parser.add_argument("--dataset", default="mnist", help="mnist or fashion_mnist")
        parser.add_argument(
            "--profile",
            default="auto",
            choices=PROFILE_NAMES,
            help="auto = smoke under AIGC_SMOKE=1, else gpu if a GPU is visible, else cpu",
        )
        parser.add_argument("--out", default=None, help="run folder (default runs/DATASET_PROFILE)")
        parser.add_argument(
            "--resume", action="store_true", help="continue from the run folder's checkpoint"
        )
        parser.add_argument(
            "--epochs", type=int, default=None, help="total epochs (overrides the profile's)"
        )
        parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        parser.add_argument(
            "--no-eval", dest="evaluate", action="store_false", help="skip FID at the end"
        )
        parser.add_argument("--quiet", action="store_true", help="no progress bar")
    elif name == "sample":
        parser.add_argument("--run", required=True, help="a run folder written by train-gan")
        parser.add_argument("--n", type=int, default=64, help="how many images (default 64)")
        parser.add_argument(
            "--out", required=True, help="FILE.npy (uint8 array) or FILE.png (grid)"
        )
        parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    else:
        raise ValueError(f"training_cli has no sub-command {name!r}")


def _resume_command(args: argparse.Namespace, run_dir: str) -> str:
    words = ["aigc-course", "train-gan", "--dataset", args.dataset, "--profile", args.profile]
    words += ["--out", run_dir, "--resume"]
    if args.epochs is not None:
        words += ["--epochs", str(args.epochs)]
    return shlex.join(words)


def run(args: argparse.Namespace, name: str) -> int:
    """Run sub-command ``name``; return the process exit code."""
    from aigc_course import training

    if name == "sample":
        path = training.sample_run(args.run, args.n, args.out, seed=args.seed)
        print(f"wrote {args.n} samples to {path}")
        return 0
    if name != "train-gan":
        raise ValueError(f"training_cli has no sub-command {name!r}")

    profile = training.get_profile(args.profile)
    run_dir = args.out or f"runs/{args.dataset}_{profile.name}"
    try:
        result = training.train_gan(
            dataset=args.dataset,
            profile=profile,
            out=run_dir,
            resume=args.resume,
            epochs=args.epochs,
            progress=not args.quiet,
            seed=args.seed,
            evaluate=args.evaluate,
        )
    except KeyboardInterrupt:
        # train_gan already said where the checkpoint is; give the exact command to resume.
        print(f"Resume with: {_resume_command(args, run_dir)}", file=sys.stderr)
        return 130
    except RuntimeError as err:  # diverged (NaN); the message says what was kept
        print(f"aigc-course train-gan: {err}", file=sys.stderr)
        return 1
    m = result.metrics
    line = f"done: step {m['step']}, epoch {m['epoch']}, {m['train_seconds']:.0f} s of training"
    if "fid" in m:
        line += f"; FID {m['fid']:.2f} (real-vs-real floor {m['fid_floor']:.2f})"
    print(line)
    print(
        f"generator: {result.run_dir / training.GENERATOR_FILE}; samples: {result.run_dir / 'samples'}"
    )
    return 0
