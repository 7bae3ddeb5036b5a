"""One bench for every image family: the same data, the same budget, the same yardsticks.

Each family is trained for the same wall-clock budgets (cumulative: the run that is scored at
one minute continues to five, then fifteen), then measured the same way
(:func:`measure`): FID with the course classifier beside the real-vs-real floor;
**precision and recall** of the generated features against real ones (Kynkäänniemi et al.,
2019), which split FID's single number into fidelity (are the samples on the data manifold?)
and diversity (do they cover it?); **class coverage** (how many of the 10 classes receive a fair
share of the samples: mode collapse shows here); bits per dimension where the family has a
likelihood; sampling and training speed; model size; and the memorisation check of
:mod:`aigc_course.metrics` (distance to the nearest training image beside the same for unseen
test images). Chapter 09 and ``benchmarks/families.py`` read its rows.
"""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from aigc_course import runs
from aigc_course.classifier import _features_and_probs, get_classifier
from aigc_course.families import Family, get_family
from aigc_course.metrics import _real_sets, frechet_distance, nearest_neighbour_distance
from aigc_course.mode_collapse import mode_coverage
from aigc_course.plotting import save_image_grid
from aigc_course.profiles import Profile, get_profile
from aigc_course.validate import integer, number_in

#: Epochs given to a bench run, so that its time budget, not its profile, ends training.
BENCH_EPOCHS = 10_000
#: Neighbours that set the radius of each point's ball in precision/recall (the paper's k).
K_NEIGHBOURS = 3
#: Samples per family and budget kept from the course's own bench run (the grids of chapter 09).
SHIPPED_SAMPLES = 16


def _pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(sq, 0.0))


def knn_radii(points: np.ndarray, k: int = K_NEIGHBOURS) -> np.ndarray:
    """Each point's distance to its ``k``-th nearest *other* point: the radius of the ball
    around it that, united over all points, stands for the manifold they sample."""
    points = np.asarray(points, np.float64)
    k = integer("k", k, minimum=1)
    if len(points) <= k:
        raise ValueError(f"need more than k={k} points to estimate a manifold, got {len(points)}")
    distances = _pairwise_distances(points, points)
    return np.sort(distances, axis=1)[:, k]  # column 0 is the point itself


def manifold_share(queries: np.ndarray, support: np.ndarray, k: int = K_NEIGHBOURS) -> float:
    """The share of ``queries`` that fall inside at least one ball of ``support``'s manifold."""
    queries, support = np.asarray(queries, np.float64), np.asarray(support, np.float64)
    radii = knn_radii(support, k)
    inside = _pairwise_distances(queries, support) <= radii[None, :]
    return float(inside.any(axis=1).mean())


def precision_recall(
    real: np.ndarray, generated: np.ndarray, k: int = K_NEIGHBOURS
) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al., 2019) of two feature sets.

    Precision: the share of generated points inside the real manifold (fidelity, 保真度).
    Recall: the share of real points inside the generated manifold (diversity, 多样性). A GAN
    that draws one perfect shirt has precision 1 and recall near 0; blurry averages that cover
    every class the other way round.
    """
    return manifold_share(generated, real, k), manifold_share(real, generated, k)


def class_coverage(probs: np.ndarray) -> dict[str, float]:
    """How the classifier spreads the samples over the classes: ``classes_hit`` (classes with
    at least a fifth of their fair share, :func:`aigc_course.mode_collapse.mode_coverage`) and
    ``class_entropy`` of the predicted-class histogram in bits (log2 10 = 3.32 when even)."""
    probs = np.asarray(probs, np.float64)
    predicted = probs.argmax(axis=1)
    coverage = mode_coverage(predicted, probs.shape[1])
    share = coverage.counts / coverage.counts.sum()
    entropy = -float(np.sum(share[share > 0] * np.log2(share[share > 0])))
    return {"classes_hit": coverage.modes_hit, "class_entropy": entropy}


def measure(
    images: np.ndarray, dataset: str, seed: int = 0, *, classifier: Any = None
) -> dict[str, dict[str, float]]:
    """Every image score of the bench for ``images`` (uint8), and the same for real images.

    Returns ``{"generated": {...}, "real": {...}}`` with ``fid``, ``precision``, ``recall``,
    ``classes_hit``, ``class_entropy`` and ``nn_distance``. The real row compares a second set
    of training images with the first (FID floor, the precision/recall a perfect generator
    would get at this sample size) and unseen test images with the training set (memorisation
    reference). Same seed, same real sets.
    """
    classifier = classifier if classifier is not None else get_classifier(dataset, verbose=False)
    train, set_a, set_b, held_out, n = _real_sets(dataset, len(images), np.random.default_rng(seed))
    images = np.asarray(images)[:n]
    f_a, _ = _features_and_probs(set_a, dataset, classifier, "training images")
    rows = {}
    for name, x, nn_queries in (("generated", images, images), ("real", set_b, held_out)):
        feats, probs = _features_and_probs(x, dataset, classifier, f"{name} images")
        precision, recall = precision_recall(f_a, feats)
        rows[name] = {
            "fid": frechet_distance(feats, f_a),
            "precision": precision,
            "recall": recall,
            **class_coverage(probs),
            "nn_distance": nearest_neighbour_distance(nn_queries, train),
        }
    return rows


def _bench_profile(family: Family, profile: str | Profile) -> Profile:
    prof = get_profile(profile, family.name)
    return prof.replace(epochs=max(prof.epochs, BENCH_EPOCHS))


def run_family(
    family: str | Family,
    dataset: str = "fashion_mnist",
    budgets: tuple[float, ...] = (60, 300, 900),
    *,
    out: str | Path,
    profile: str | Profile = "cpu",
    n: int = 1000,
    seed: int = 0,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Train ``family`` for each cumulative wall-clock budget (seconds) and :func:`measure` it.

    One run in ``out`` is trained with the family's ``profile`` (its epochs raised so that the
    budget ends training), scored after each budget, then resumed; a budget the run has already
    spent (the step in progress, graph tracing and the last epoch's preview can overshoot one)
    adds no training, and its row says so by its unchanged ``steps`` and ``train_seconds``. A
    resumed segment starts the engine's data stream and noise from the seed again (as any
    ``resume`` does), so it is not exactly the continuation of an uninterrupted run. Training time counts what a
    user waits for: graph tracing, the per-epoch preview samples, checkpoints. Each row: the
    family, budget, training seconds and images/s, parameter count, ``n`` samples drawn from
    the run's export with their images/s (the loaded export's first call, graph tracing
    included), bits per dimension (``None`` without a likelihood),
    the generated scores and the real reference (:func:`measure`). A 64-sample grid per budget
    is written to ``out/bench_<budget>s.png``.
    """
    family = get_family(family)
    if family.data_kind != "images":
        raise ValueError(
            f"the bench compares image families; {family.name} makes {family.data_kind}"
        )
    dataset = family.check_dataset(dataset)
    n = integer("n", n, minimum=2 * K_NEIGHBOURS)
    budgets = tuple(sorted(number_in("budget", b, 0, float("inf"), low_open=True) for b in budgets))
    prof = _bench_profile(family, profile)
    out = Path(out)
    rows, spent, steps, params, xla = [], 0.0, 0, 0, False
    for budget in budgets:
        if spent < budget:
            result = runs.train(
                family, dataset, prof, out=out, resume=spent > 0, seed=seed, evaluate=False,
                progress=progress, max_seconds=budget - spent,
            )  # fmt: skip
            spent += result.metrics["train_seconds"]
            steps, params = result.metrics["step"], int(result.model.count_params())
            xla = result.metrics["xla"]  # whether the step was compiled with XLA
        export = family.load_export(out / family.export_name)
        start = time.perf_counter()
        images = family.sample(export, n, seed=seed)
        sample_seconds = time.perf_counter() - start
        save_image_grid(images[:64], out / f"bench_{budget:g}s.png")
        scores = measure(images, dataset, seed)
        rows.append({
            "family": family.name,
            "dataset": dataset,
            "budget_s": budget,
            "seed": seed,
            "train_seconds": round(spent, 1),
            "steps": steps,
            "train_images_per_s": steps * prof.batch_size / spent,
            "xla": xla,
            "params": params,
            "n": len(images),
            "sample_images_per_s": len(images) / sample_seconds,
            "bits_per_dim": family.bits_per_dim(export, dataset),
            **scores["generated"],
            "real": scores["real"],
        })  # fmt: skip
    return rows


#: The columns of :func:`summarise`, each with its heading and format in :func:`format_table`.
COLUMNS = (
    ("budget_s", "budget", "{:.0f} s"),
    ("train_seconds", "trained", "{:.0f} s"),
    ("fid", "FID", "{:.2f}"),
    ("precision", "precision", "{:.2f}"),
    ("recall", "recall", "{:.2f}"),
    ("classes_hit", "classes", "{:.0f}/10"),
    ("bits_per_dim", "bits/dim", "{:.3f}"),
    ("nn_distance", "NN dist", "{:.2f}"),
    ("train_images_per_s", "train img/s", "{:.0f}"),
    ("sample_images_per_s", "sample img/s", "{:.0f}"),
    ("params", "params", "{:,.0f}"),
)


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per family and budget: the median of each column over the seeds, with the FID's
    range (``fid_min``, ``fid_max``) and the number of seeds; then one ``real data`` row, the
    medians of the real reference (the floor) over all rows, which therefore must share one
    data set and one sample size ``n``."""
    if len({(r["dataset"], r["n"]) for r in rows}) > 1:
        raise ValueError("summarise rows of one data set and one sample size n at a time")
    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["family"], row["budget_s"]), []).append(row)

    def medians(group: list[dict[str, Any]], family: str, budget: float) -> dict[str, Any]:
        out: dict[str, Any] = {"family": family, "budget_s": budget, "seeds": len(group)}
        for key, _, _ in COLUMNS[1:]:
            values = [r[key] for r in group if r.get(key) is not None]
            out[key] = float(np.median(values)) if values else None
        fids = [r["fid"] for r in group]
        out["fid_min"], out["fid_max"] = min(fids), max(fids)
        return out

    table = [medians(g, family, budget) for (family, budget), g in sorted(groups.items())]
    reals = [r["real"] for r in rows]
    real = medians(reals, "real data", 0.0)
    return table + [real]


def format_table(rows: list[dict[str, Any]]) -> str:
    """:func:`summarise`'s rows as a Markdown table (``—`` where a family has no number); the
    FID shows its range over the seeds when there are several."""
    summary = summarise(rows)
    head = ["family", *(title for _, title, _ in COLUMNS)]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in summary:
        cells = [row["family"]]
        for key, _, fmt in COLUMNS:
            value = row.get(key)
            if row["family"] == "real data" and key == "budget_s":
                cells.append("—")
            elif value is None:
                cells.append("—")
            else:
                cells.append(fmt.format(value))
        if row["seeds"] > 1 and row["family"] != "real data":
            cells[1 + [key for key, _, _ in COLUMNS].index("fid")] += (
                f" ({row['fid_min']:.2f}–{row['fid_max']:.2f})"
            )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_bench(rows: list[dict[str, Any]]):
    """Two panels: FID against the training budget for each family (log scale, the real-vs-real
    floor dashed), and precision against recall at the largest budget (the real point is what a
    perfect generator reaches at this sample size)."""
    import matplotlib.pyplot as plt

    summary = summarise(rows)
    real = summary[-1]
    families = sorted({r["family"] for r in summary[:-1]})
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for family in families:
        mine = [r for r in summary if r["family"] == family]
        budgets = [r["budget_s"] / 60 for r in mine]
        line = left.plot(budgets, [r["fid"] for r in mine], "o-", label=family)[0]
        left.fill_between(budgets, [r["fid_min"] for r in mine], [r["fid_max"] for r in mine],
                          color=line.get_color(), alpha=0.15)  # fmt: skip
        last = mine[-1]
        right.scatter(last["recall"], last["precision"], s=60, color=line.get_color(), label=family)
    left.axhline(real["fid"], color="k", ls="--", lw=1, label="real vs real")
    left.set(xlabel="training budget (minutes, 2 CPU cores)", ylabel="FID (lower is better)",
             yscale="log", title="quality against training time")  # fmt: skip
    right.scatter(
        real["recall"], real["precision"], marker="*", s=160, color="k", label="real data"
    )
    minutes = summary[-2]["budget_s"] / 60
    right.set(xlabel="recall (diversity)", ylabel="precision (fidelity)", xlim=(-0.03, 1.03),
              ylim=(-0.03, 1.03), title=f"fidelity vs diversity at {minutes:g} min")  # fmt: skip
    for ax in (left, right):
        ax.legend(fontsize=9)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _shipped(dataset: str, suffix: str):
    path = resources.files("aigc_course") / "_data" / f"bench_{dataset}{suffix}"
    if not path.is_file():
        raise FileNotFoundError(
            f"no bench results for {dataset!r} ship with the course (only for fashion_mnist); "
            "run benchmarks/families.py to make your own"
        )
    return path


def _shipped_record(dataset: str) -> dict[str, Any]:
    return json.loads(_shipped(dataset, ".json").read_text())


def shipped_results(dataset: str = "fashion_mnist") -> list[dict[str, Any]]:
    """The rows of the course's own bench run (``benchmarks/families.py`` on the full data set,
    ``cpu`` profiles, 2 CPU cores; ``scripts/pack_bench.py`` merged its files), as
    :func:`run_family` returns them plus ``peak_memory_mib``: chapter 09 reads them so that its
    stored table is the same on every machine. :func:`shipped_run` says how they were made."""
    return _shipped_record(dataset)["rows"]


def shipped_run(dataset: str = "fashion_mnist") -> dict[str, Any]:
    """How :func:`shipped_results` were made: the bench's arguments, the machine, the load."""
    return {key: value for key, value in _shipped_record(dataset).items() if key != "rows"}


def shipped_samples(dataset: str = "fashion_mnist") -> dict[tuple[str, float], np.ndarray]:
    """:data:`SHIPPED_SAMPLES` uint8 samples per (family, budget in seconds) of the run behind
    :func:`shipped_results` (its first seed)."""
    with _shipped(dataset, "_samples.npz").open("rb") as f, np.load(f) as archive:
        return {
            (key.rsplit("_", 1)[0], float(key.rsplit("_", 1)[1])): archive[key]
            for key in archive.files
        }


__all__ = [
    "BENCH_EPOCHS",
    "K_NEIGHBOURS",
    "SHIPPED_SAMPLES",
    "knn_radii",
    "manifold_share",
    "precision_recall",
    "class_coverage",
    "measure",
    "run_family",
    "COLUMNS",
    "summarise",
    "shipped_results",
    "shipped_run",
    "shipped_samples",
    "format_table",
    "plot_bench",
]
