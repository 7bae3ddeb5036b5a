"""Checks for chapter 09's exercises (every generative family on one bench).

Each code check recomputes the right answer on inputs it makes up (random Gaussian posteriors,
made-up negative log densities, random feature sets scored by :mod:`aigc_course.bench`), so no
numeric result is hard-coded, and recognises the typical slips to say which one it was:
``log_var`` read as the variance or as log σ, σ where σ² belongs, the 1/2, the -1 or a sign
lost in the KL, a mean where the sum belongs; nats for bits (or log10, or the bin term in nats),
per image for per dimension, the bin width forgotten or inverted; a point counted as its own
neighbour, a strict ``<`` (a grid case has points exactly on the balls' surfaces), squared
distances against plain radii, precision and recall swapped, counted, reduced over the wrong
axis or measured with the wrong set's balls. The truncation experiment is judged against the
bench's own precision and recall on the same inputs, and a wrong ``precision_recall`` under a
right sweep is sent back to exercise 3. A one-number coincidence names no slip.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from aigc_course import bench
from aigc_course.checks import (
    CheckFailed,
    check,
    check_callable,
    check_choice,
    check_close,
    check_own_code,
    check_shape,
    check_uses,
    is_library_function,
    ok,
)

__all__ = [
    "check_kl_normal",
    "check_bits_per_dim",
    "check_precision_recall",
    "check_bench_answer",
    "check_truncation_experiment",
    "HINTS",
]

SECTION_VAE = "chapter 09, section 2 (The last family: a VAE; the KL of two Gaussians)"
SECTION_BITS = "chapter 09, sections 2 and 3 (bits per dimension, one yardstick for all)"
SECTION_PR = "chapter 09, section 3 (The yardsticks: precision and recall)"
SECTION_TABLE = "chapter 09, section 6 (Reading the table: gold mine or bubble?)"


def _first_match(got, want, candidates) -> str | None:
    """The hint of the first ``(value, hint)`` candidate that ``got`` equals while the right
    answer ``want`` does not (a slip that happens to give the right number is no slip)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    for value, hint in candidates:
        value = np.asarray(value, np.float64)
        if value.shape != got.shape or np.allclose(value, want, rtol=1e-6, atol=1e-9):
            continue
        if np.allclose(got, value, rtol=1e-6, atol=1e-9, equal_nan=True):
            return hint
    return None


def _student_function(fn: Callable, name: str):
    """The student's own function ``name`` that ``fn`` would call, if it is one (defined by the
    student, not imported from the course or a library)."""
    candidate = getattr(fn, "__globals__", {}).get(name)
    if not callable(candidate) or candidate is fn or is_library_function(candidate):
        return None
    return candidate


# --- Exercise 1: the KL term of the ELBO. ----------------------------------------------------


@check(reread=SECTION_VAE)
def check_kl_normal(kl_to_standard_normal: Callable) -> None:
    """``kl_to_standard_normal(mean, log_var)``: ``KL(N(mean, diag exp(log_var)) || N(0, I))`` in
    nats, one number per row: ``0.5 * sum(mean^2 + exp(log_var) - 1 - log_var)`` over the last
    axis."""
    check_callable("kl_to_standard_normal", kl_to_standard_normal)
    check_own_code(
        "kl_to_standard_normal",
        kl_to_standard_normal,
        ["gaussian_kl"],
        "the exercise is to write the closed form yourself with NumPy, not to call "
        "aigc_course.vae.gaussian_kl",
    )
    rng = np.random.default_rng(90)
    # The first case keeps log_var positive, so log_var read as a variance still gives numbers.
    for rows, dims, low, high in ((3, 4, 0.1, 1.5), (5, 2, -3.0, 1.0), (2, 16, -4.0, 2.0)):
        mean = rng.normal(size=(rows, dims)) * 1.5
        log_var = rng.uniform(low, high, (rows, dims))
        name = f"kl_to_standard_normal(mean, log_var) on {rows} rows of {dims} dimensions"
        with np.errstate(all="ignore"):
            got = kl_to_standard_normal(mean.copy(), log_var.copy())
            check_shape(name, got, (rows,), hint="one number per row: sum over the last axis only")
            terms = mean**2 + np.exp(log_var) - 1.0 - log_var
            want = 0.5 * terms.sum(axis=-1)
            as_variance = "log_var is the log of the variance: the variance is exp(log_var)"
            as_log_std = (
                "log_var is log σ², not log σ: the variance is exp(log_var) and its log is "
                "log_var itself (no factor 2)"
            )
            as_std = (
                "exp(log_var / 2) is the standard deviation σ; the formula wants the variance "
                "σ² = exp(log_var)"
            )
            hint = _first_match(
                got,
                want,
                [
                    (0.5 * np.sum(mean**2 + log_var - 1.0 - np.log(log_var), axis=-1), as_variance),
                    (0.5 * np.sum(mean**2 - 1.0, axis=-1), as_variance),
                    (
                        0.5 * np.sum(mean**2 + np.exp(2 * log_var) - 1.0 - 2 * log_var, -1),
                        as_log_std,
                    ),
                    (0.5 * np.sum(mean**2 + np.exp(log_var) - 1.0 - 2 * log_var, -1), as_log_std),
                    (0.5 * np.sum(mean**2 + np.exp(log_var / 2) - 1.0 - log_var, -1), as_std),
                    (0.5 * np.sum(mean**2 + np.exp(log_var / 2) - 1.0 - log_var / 2, -1), as_std),
                    (
                        0.5 * np.sum(mean**2 + np.exp(log_var) - log_var, axis=-1),
                        "the -1 per dimension is missing: the prior itself (mean 0, log_var 0) "
                        "must cost exactly 0",
                    ),
                    (
                        0.5 * np.sum(mean**2 + np.exp(log_var) - 1.0 + log_var, axis=-1),
                        "a sign slip in the log term: it is - log σ², that is - log_var",
                    ),
                    (terms.sum(axis=-1), "twice the KL: the 1/2 in front is missing"),
                    (
                        0.5 * terms.mean(axis=-1),
                        "that is the mean over the dimensions: the KL of independent dimensions "
                        "is their sum",
                    ),
                    (
                        0.5 * np.sum(-(mean**2) + np.exp(log_var) - 1.0 - log_var, axis=-1),
                        "a sign slip: mean^2 is added (a posterior far from 0 costs more, never "
                        "less)",
                    ),
                ],
            )
        check_close(name, got, want, rtol=1e-6, atol=1e-9, hint=hint)
    ok("the KL to the standard normal matches the closed form, row by row")


# --- Exercise 2: bits per dimension from a continuous density. -------------------------------


@check(reread=SECTION_BITS)
def check_bits_per_dim(bits_per_dim: Callable) -> None:
    """``bits_per_dim(nll_nats, dims, value_range)``: a density's ``-log p(x)`` (nats, per image)
    of 8-bit images rescaled to an interval of width ``value_range`` -> discrete bits per
    dimension, ``nll / (dims ln 2) + log2(256 / value_range)``."""
    check_callable("bits_per_dim", bits_per_dim)
    rng = np.random.default_rng(91)
    for dims, value_range in ((784, 2.0), (784, 1.0), (3072, 2.0), (10, 1.0)):
        nll = float(rng.uniform(-3.0, 1.0) * dims)  # a density above 1 has a negative nll
        name = f"bits_per_dim({nll:.2f}, dims={dims}, value_range={value_range:g})"
        got = bits_per_dim(nll, dims, value_range)
        if got is None:
            raise CheckFailed(f"{name} returned None — did you forget `return`?")
        if np.asarray(got).shape != ():
            raise CheckFailed(f"{name}: expected one number, got shape {np.shape(got)}")
        base = nll / (dims * math.log(2.0))
        levels = math.log2(256.0 / value_range)
        want = base + levels
        nats = "that is nats: a log density in nats becomes bits when divided by ln 2"
        per_image = "that is per image: divide by dims to get bits per dimension"
        hint = _first_match(
            got,
            want,
            [
                (nll / dims + math.log(256.0 / value_range), nats),
                (nll / dims + levels, nats),
                (nll / math.log(2.0) + levels, per_image),
                (nll / math.log(2.0) + dims * levels, per_image),
                (
                    base,
                    "the bin term is missing: a level's probability is the density times the "
                    "width of its bin, value_range / 256",
                ),
                (
                    base + 8.0,
                    "+8 holds only for [0, 1]: each of the 256 levels is a bin of width "
                    "value_range / 256, so the term depends on the range",
                ),
                (
                    base - levels,
                    "the bin term has the wrong sign: a bin narrower than 1 holds less "
                    "probability than the density's value, so it costs bits",
                ),
                (
                    base + math.log2(256.0 * value_range),
                    "the bin is value_range / 256 wide: divide the range, do not multiply",
                ),
                (
                    base + math.log(256.0 / value_range),
                    "the bin term is in nats: take its log in base 2 (math.log2) like the rest",
                ),
                (
                    nll * math.log(2.0) / dims + levels,
                    "nats become bits when you divide by ln 2 (one bit is ln 2 = 0.69 nats), "
                    "not multiply",
                ),
                (
                    nll / (dims * math.log10(2.0)) + levels,
                    "that is a base-10 logarithm: bits are log2, so convert the nats with ln 2 "
                    "(math.log(2)), not log10(2)",
                ),
                (
                    base + math.log10(256.0 / value_range),
                    "that is a base-10 logarithm: bits are log2, so the bin term needs math.log2",
                ),
                (
                    base + math.log2(255.0 / value_range),
                    "there are 256 levels (0 to 255), so 256 bins of width value_range / 256",
                ),
                (
                    -base + levels,
                    "nll_nats is already the negative log density: use it as it is, with no "
                    "extra minus sign",
                ),
            ],
        )
        check_close(name, got, want, rtol=1e-9, atol=1e-9, hint=hint)
    ok("bits per dimension on the discrete 8-bit scale, for every range")


# --- Exercise 3: improved precision and recall, by hand. --------------------------------------


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1))


def _radii(points: np.ndarray, column: int) -> np.ndarray:
    return np.sort(_distances(points, points), axis=1)[:, column]  # column 0: the point itself


def _shares(cross: np.ndarray, real_radii, generated_radii, compare=np.less_equal, axis=1):
    """(precision, recall) from the (generated, real) distances and each set's radii."""
    precision = compare(cross, np.asarray(real_radii)[None, :]).any(axis=axis).mean()
    recall = compare(cross.T, np.asarray(generated_radii)[None, :]).any(axis=axis).mean()
    return float(precision), float(recall)


def _slips(real: np.ndarray, generated: np.ndarray, k: int) -> list[tuple[tuple, str, bool]]:
    """What the usual mistakes return for ``(real, generated, k)``, each with its hint and
    whether one half of it alone (only precision, or only recall, gone wrong) names it too."""
    cross = _distances(generated, real)  # (generated, real)
    right = (_radii(real, k), _radii(generated, k))
    self_k = _shares(cross, _radii(real, k - 1), _radii(generated, k - 1))
    own = (
        float((cross <= _radii(generated, k)[:, None]).any(axis=1).mean()),
        float((cross.T <= _radii(real, k)[:, None]).any(axis=1).mean()),
    )
    other_set = [
        _shares(cross, np.sort(cross.T, axis=1)[:, c], np.sort(cross, axis=1)[:, c])
        for c in (k - 1, k)
    ]
    precision, recall = bench.precision_recall(real, generated, k)
    slips = [
        (
            self_k,
            "the point itself was counted as its own nearest neighbour: the radius is the "
            "distance to the k-th nearest OTHER point (sorted distances start with the 0 to "
            "itself)",
            True,
        ),
        (
            (recall, precision),
            "precision and recall are swapped: precision asks how many GENERATED points land "
            "on the real manifold, recall how many REAL points the generated manifold covers",
            False,  # a swap shows in both numbers; one number equal to the other is chance
        ),
        (
            (precision * len(generated), recall * len(real)),
            "those are counts: precision and recall are shares (divide by the number of points)",
            True,
        ),
        (
            own,
            "the balls belong to the other set: a generated point counts for precision when it "
            "falls inside the ball of some REAL point, with that real point's radius",
            True,
        ),
        (
            _shares(cross, *right, compare=np.less),
            "a point exactly on a ball's surface is inside it: the test is distance <= radius "
            "(a strict < drops the ties, e.g. a copy of a real point whose ball has radius 0)",
            True,
        ),
        (
            _shares(cross**2, *right),
            "squared distances compared with radii that are plain distances: compare like with "
            "like (both squared or both not)",
            True,
        ),
        (
            _shares(cross, *right, axis=0),
            "that is the share of the balls that hold a point of the other set: precision is "
            "the share of GENERATED points inside some real ball (reduce over the real points "
            "with .any, then average over the generated ones), recall the other way round",
            True,
        ),
        *(
            (
                value,
                "each ball's radius is the distance to the k-th nearest point of its own set "
                "(real-real distances for the real balls), not of the other set",
                True,
            )
            for value in other_set
        ),
    ]
    if k != bench.K_NEIGHBOURS:
        slips.append(
            (
                _shares(
                    cross, _radii(real, bench.K_NEIGHBOURS), _radii(generated, bench.K_NEIGHBOURS)
                ),
                f"use the k passed in (k={k} here) for the radii, not a fixed "
                f"{bench.K_NEIGHBOURS}",
                True,
            )
        )
    return slips


def _two_numbers(name: str, got) -> tuple[float, float]:
    if isinstance(got, np.ndarray) and got.shape == (2,):
        got = tuple(got)
    if not isinstance(got, tuple | list) or len(got) != 2:
        raise CheckFailed(
            f"{name}: expected a pair (precision, recall), got {type(got).__name__}",
            "return two floats, precision first",
        )
    values = []
    for value in got:
        if np.asarray(value).shape != ():
            raise CheckFailed(f"{name}: precision and recall are single numbers, got {value!r}")
        values.append(float(value))
    return values[0], values[1]


def _pair_hint(got, want, slips) -> str | None:
    hint = _first_match(got, want, [(value, text) for value, text, _ in slips])
    if hint is None:  # one half of a slip, the other half right: e.g. only precision judged
        for i in (0, 1):  # with the wrong balls (one wrong number alone matches slips by chance)
            if not math.isclose(got[1 - i], want[1 - i], abs_tol=1e-9):
                continue
            for value, text, halves in slips:
                if (
                    halves
                    and not math.isclose(value[i], want[i])
                    and math.isclose(got[i], value[i])
                ):
                    return text
    return hint


def _lattice_sets() -> tuple[np.ndarray, np.ndarray]:
    """Two grids of integer points one step apart, the generated one shifted by 3 columns: many
    cross distances equal a radius exactly (1), so ``<=`` and ``<`` disagree. Small integers
    keep every distance exact however it is computed."""
    rows, columns = np.meshgrid(np.arange(5.0), np.arange(5.0), indexing="ij")
    real = np.stack([rows.ravel(), columns.ravel()], axis=1)  # 5 x 5
    rows, columns = np.meshgrid(np.arange(5.0), np.arange(3.0, 9.0), indexing="ij")
    generated = np.stack([rows.ravel(), columns.ravel()], axis=1)  # 5 x 6, columns 3 to 8
    return real, generated


@check(reread=SECTION_PR)
def check_precision_recall(precision_recall: Callable) -> None:
    """``precision_recall(real, generated, k=3)`` -> ``(precision, recall)``: improved precision
    and recall (Kynkäänniemi et al., 2019) of two feature arrays ``(n, d)``, written with NumPy
    and compared with :func:`aigc_course.bench.precision_recall` on made-up sets, the last one
    on a grid where points lie exactly on the balls' surfaces."""
    check_callable("precision_recall", precision_recall)
    check_own_code(
        "precision_recall",
        precision_recall,
        ["precision_recall", "manifold_share", "knn_radii"],
        "the exercise is to build the k-NN balls yourself with NumPy, not to call "
        "aigc_course.bench",
    )
    rng = np.random.default_rng(92)
    cases = []
    for n_real, n_generated, dims, k in ((40, 50, 3, 3), (60, 30, 5, 1), (35, 45, 2, 5)):
        real = rng.normal(size=(n_real, dims))
        cases.append((real, 0.6 * rng.normal(size=(n_generated, dims)) + 0.4, k, ""))
    cases.append((*_lattice_sets(), 2, " on a grid of integer points"))
    for real, generated, k, where in cases:
        name = f"precision_recall(real {real.shape}, generated {generated.shape}, k={k}){where}"
        got = _two_numbers(name, precision_recall(real.copy(), generated.copy(), k))
        want = bench.precision_recall(real, generated, k)
        hint = _pair_hint(got, want, _slips(real, generated, k))
        check_close(f"{name} precision", got[0], want[0], rtol=0, atol=1e-9, hint=hint)
        check_close(f"{name} recall", got[1], want[1], rtol=0, atol=1e-9, hint=hint)
    ok("precision and recall match the bench's on every made-up set")


# --- Exercise 4: reading the bench's table. ---------------------------------------------------


@check(reread=SECTION_TABLE)
def check_bench_answer(answer: str) -> None:
    """The multiple-choice question on the 5-minute bench table: ``"b"``."""
    check_choice(
        "bench answer",
        answer,
        "b",
        {
            "a": "read the bits/dim and FID columns together: the PixelCNN has the best "
            "likelihood of the table, yet its FID is far behind the GAN's, which has no "
            "likelihood at all. A model can spend its likelihood on pixel-level detail and "
            "still draw poor pictures (Theis et al., 2016)",
            "c": "precision only asks whether each sample lands near some real image in the "
            "classifier's feature space; smooth, average-looking samples do. It says nothing "
            "about sharpness, and the VAE's low recall and its FID, far behind the GAN's, say "
            "its samples cover little of the data",
            "d": "the GAN has no likelihood at all (no bits/dim), and its precision is below "
            "the VAE's: it leads on FID, not in every column",
        },
        not_attempted='write "a", "b", "c" or "d"',
    )
    ok("likelihood and sample quality are different yardsticks: no column crowns a family")


# --- The experiment: the truncation trick on a toy. --------------------------------------------


def _sweep_rows(name: str, got, count: int) -> list[tuple[float, float]]:
    if isinstance(got, np.ndarray) and got.ndim == 2 and got.shape[1] == 2:
        got = list(got)
    if not isinstance(got, tuple | list) or len(got) != count:
        size = f" of length {len(got)}" if isinstance(got, tuple | list) else ""
        raise CheckFailed(
            f"{name}: expected a list of {count} (precision, recall) pairs, one per scale, "
            f"got {type(got).__name__}{size}"
        )
    return [_two_numbers(f"{name}[{i}]", row) for i, row in enumerate(got)]


def _table(real, noise, scales, k, shift: bool = False) -> list[tuple[float, float]]:
    return [bench.precision_recall(real, noise + s if shift else s * noise, k) for s in scales]


@check(reread=SECTION_PR)
def check_truncation_experiment(
    truncation_sweep: Callable,
    answer_truncation: str,
    real,
    noise,
    scales,
    k: int = bench.K_NEIGHBOURS,
) -> None:
    """``truncation_sweep(real, noise, scales, k)`` returns one ``(precision, recall)`` per scale,
    for the samples ``scale * noise``; judged against :func:`aigc_course.bench.precision_recall`
    on the check's own sets (another seed, size, dimension and k). ``answer_truncation`` is the
    letter the table supports, judged with the bench's table on the notebook's sets."""
    check_callable("truncation_sweep", truncation_sweep)
    check_uses(
        "truncation_sweep",
        truncation_sweep,
        "precision_recall",
        "measure each scale with your precision_recall from exercise 3",
    )
    rng = np.random.default_rng(93)
    probe_real, probe_noise = rng.normal(size=(150, 4)), rng.normal(size=(120, 4))
    probe_scales, probe_k = [0.5, 1.0, 1.5], 4
    name = f"truncation_sweep(real (150, 4), noise (120, 4), scales={probe_scales}, k={probe_k})"
    got = _sweep_rows(
        name,
        truncation_sweep(probe_real.copy(), probe_noise.copy(), list(probe_scales), probe_k),
        len(probe_scales),
    )
    want = _table(probe_real, probe_noise, probe_scales, probe_k)
    unscaled = bench.precision_recall(probe_real, probe_noise, probe_k)
    slips = [
        (
            [unscaled] * len(probe_scales),
            "every row is the same: at each scale the generator's samples are scale * noise",
        ),
        (
            [(r, p) for p, r in want],
            "each pair is (precision, recall): precision first, and precision_recall takes "
            "the real set first, then the samples",
        ),
        (
            [bench.precision_recall(probe_real, probe_noise / s, probe_k) for s in probe_scales],
            "only the samples are scaled, by multiplying: scale * noise. Scaling the real set "
            "instead, or dividing the noise by the scale, moves them the opposite way (precision "
            "and recall only see the ratio of the two sets' sizes)",
        ),
        (
            _table(
                np.asarray(real, np.float64), np.asarray(noise, np.float64), probe_scales, probe_k
            ),
            "use the sets passed in as real and noise: the sweep measured the notebook's own "
            "variables instead of its arguments",
        ),
        (
            [bench.precision_recall(probe_real, s * probe_real, probe_k) for s in probe_scales],
            "the samples come from the noise (scale * noise), not from the real set: the real "
            "set is only the yardstick",
        ),
        (
            _table(probe_real, probe_noise, probe_scales, probe_k, shift=True),
            "the scale multiplies the noise (scale * noise); adding it shifts the samples instead",
        ),
        (
            _table(probe_real, probe_noise, probe_scales, bench.K_NEIGHBOURS),
            f"pass k on to precision_recall: the check asked for k={probe_k}",
        ),
    ]
    hint = _first_match(got, want, slips)
    yours = _student_function(truncation_sweep, "precision_recall")
    if yours is not None and not np.allclose(got, want, rtol=0, atol=1e-9):
        try:
            mismatch = not np.allclose(
                _two_numbers("precision_recall", yours(probe_real.copy(), probe_noise.copy(), 4)),
                bench.precision_recall(probe_real, probe_noise, 4),
                rtol=0,
                atol=1e-9,
            )
        except Exception:  # noqa: BLE001 - any failure of exercise 3's function says the same
            mismatch = True
        if mismatch:
            hint = (
                "your precision_recall from exercise 3 does not match the bench's yet: make "
                "its check pass first (the sweep is judged with the right precision and recall)"
            )
    check_close(name, got, want, rtol=0, atol=1e-9, hint=hint)

    table = _table(np.asarray(real, np.float64), np.asarray(noise, np.float64), scales, k)
    order = np.argsort(scales)
    low, high = float(scales[order[0]]), float(scales[order[-1]])
    (p_low, r_low), (p_high, r_high) = table[order[0]], table[order[-1]]
    check_choice(
        "truncation answer",
        answer_truncation,
        "a",
        {
            "b": f"only precision rises: at scale {low:g} recall falls to {r_low:.2f} (at "
            f"{high:g}: {r_high:.2f}). Samples huddled in the middle of the real cloud stay on "
            "the manifold but leave its edges uncovered",
            "c": f"your table says otherwise: precision goes from {p_low:.2f} at scale {low:g} to "
            f"{p_high:.2f} at scale {high:g}, recall from {r_low:.2f} to {r_high:.2f}",
            "d": "the other way round: shrinking pulls the samples into the dense middle of the "
            f"real cloud, inside real balls (precision {p_low:.2f} at scale {low:g}, "
            f"{p_high:.2f} at {high:g}); widening throws them off the manifold",
        },
        not_attempted="set answer_truncation to one letter: 'a', 'b', 'c' or 'd'",
    )
    ok(
        f"measured: shrinking the samples trades recall for precision (scale {low:g}: precision "
        f"{p_low:.2f}, recall {r_low:.2f}; scale {high:g}: precision {p_high:.2f}, recall "
        f"{r_high:.2f})"
    )


#: Graded hints (``aigc_course.hints.hint``): the idea first, then the tool, never the line.
HINTS = {
    "kl_normal": (
        "Both Gaussians have diagonal covariances, so the KL splits into one term per latent "
        "dimension, and the terms add up. Each term compares a N(mu, sigma^2) with N(0, 1): it "
        "grows with the mean's distance from 0 and with how far sigma^2 is from 1.",
        "The notebook's formula per dimension uses the variance sigma^2 = exp(log_var) and its "
        "log, which is log_var itself. NumPy: np.exp, then .sum(axis=-1) to add the dimensions "
        "of each row.",
        "Check yourself: mean 0 and log_var 0 (the prior itself) must give exactly 0, and a "
        "mean of 2 in one dimension with log_var 0 gives 2 nats.",
    ),
    "bits_per_dim": (
        "A density is not a probability: the probability of one 8-bit level is the density "
        "times the width of the level's bin. 256 levels share an interval of width value_range, "
        "so one bin is value_range / 256 wide. Then go from nats per image to bits per "
        "dimension.",
        "Three steps: nats to bits (divide by ln 2, math.log(2)); per image to per dimension "
        "(divide by dims); then the bin's cost in bits, -log2 of its width, with math.log2.",
        "Check yourself: a uniform density over [0, 1]^dims has nll 0 and must score exactly 8 "
        "bits per dimension; over [-1, 1]^dims its nll is dims * ln 2, and it must score 8 too.",
    ),
    "precision_recall": (
        "Each set draws its own manifold: a ball around each of its points, as wide as the "
        "distance to its k-th nearest neighbour in the same set. Precision: how many generated "
        "points fall inside the real manifold; recall: how many real points fall inside the "
        "generated one.",
        "All pairwise distances at once with broadcasting: a[:, None, :] - b[None, :, :], then "
        "the norm over the last axis. np.sort along each row gives the radii (position 0 is "
        "the point itself, at distance 0); compare a distance matrix with the radii (a point on "
        "a ball's surface is inside it), then .any(axis=...) and .mean().",
        "Check yourself: precision_recall(x, x) is (1.0, 1.0) for any set x, and a generated "
        "set far away from the real one gives (0.0, 0.0).",
    ),
    "read_the_bench": (
        "Read the table column by column: which family is best at bits/dim, and where does it "
        "rank on FID? Is one family best in every column?",
        "Precision measures whether samples land near real ones (fidelity), not sharpness; "
        "bits/dim measures how much probability a model gives to real images, not how good "
        "its own samples look.",
    ),
    "truncation_experiment": (
        "A sweep is a loop: for each scale, make the generator's samples from the same noise "
        "and measure them against the same real set with your precision_recall.",
        "The samples at a scale are the noise multiplied by that scale (shrunk towards the "
        "middle below 1, widened above); keep k. Append one (precision, recall) pair per "
        "scale, in the order of scales.",
        "Before answering, compare the first and the last rows of your table: which of the two "
        "numbers rises as the scale shrinks, and which falls?",
    ),
}
