"""The wrong-answer corpus: mistakes students really make, one entry per mistake.

Each entry replaces the body of an exercise's ``### BEGIN SOLUTION`` block (at the block's
indentation) and names a phrase the check's message must contain: the check must fail, say what
the mistake is, and point to the section to reread (``tests/test_wrong_answers.py``). To add
one, see ``docs/instructors.md``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Wrong:
    exercise: str  # the id after ``### EXERCISE:``
    mistake: str  # what the student did, as a test id
    code: str  # replaces the solution block's body
    expect: str  # a phrase the failure message must contain (case-insensitive)
    where: str = ""  # text of the answer cell, when it is not the last one before the check


CORPUS: dict[str, list[Wrong]] = {}


def _add(notebook: str, *entries: Wrong) -> None:
    CORPUS.setdefault(notebook, []).extend(entries)


_add(
    "01_gold_mine_or_bubble.ipynb",
    Wrong(
        "count_by_modality",
        "counts the course table, not its argument",
        "return dict(Counter(m.modality for m in load_milestones()))",
        "not the rows",
    ),
    Wrong(
        "count_by_modality",
        "keys by family instead of modality",
        "return dict(Counter(m.family for m in rows))",
        "keys should be modalities",
    ),
    Wrong(
        "years_between",
        "first minus second",
        "year = {m.milestone: m.year for m in rows}\nreturn year[first] - year[second]",
        "sign is flipped",
    ),
    Wrong(
        "years_between",
        "default 0 hides an unknown name",
        "year = {m.milestone: m.year for m in rows}\nreturn year.get(second, 0) - year.get(first, 0)",
        "should raise an error",
    ),
    Wrong("claims", "everything is a strength", 'answer_claims = "SSSSS"', "is a weakness"),
    Wrong("claims", "privacy is a strength", 'answer_claims = "SWWSS"', "claim e"),
    Wrong(
        "log_likelihood",
        "bits instead of nats",
        "mu = np.clip(mu, 1e-3, 1 - 1e-3)\n"
        "return (x * np.log2(mu) + (1 - x) * np.log2(1 - mu)).sum(axis=(1, 2))",
        "bits",
    ),
    Wrong(
        "log_likelihood",
        "no clipping: log(0)",
        "return (x * np.log(mu) + (1 - x) * np.log(1 - mu)).sum(axis=(1, 2))",
        "log(0)",
    ),
    Wrong(
        "log_likelihood",
        "transposed mu",
        "mu = np.clip(mu, 1e-3, 1 - 1e-3).T\n"
        "return (x * np.log(mu) + (1 - x) * np.log(1 - mu)).sum(axis=(1, 2))",
        "transposed",
    ),
    Wrong(
        "log_likelihood",
        "one number for the whole batch",
        "mu = np.clip(mu, 1e-3, 1 - 1e-3)\n"
        "return (x * np.log(mu) + (1 - x) * np.log(1 - mu)).sum()",
        "one number per image",
    ),
    Wrong(
        "em_experiment",
        "probabilities instead of log space: underflow",
        "mu = np.clip(means, 1e-3, 1 - 1e-3)\n"
        "like = np.prod(np.where(x[:, None, :] > 0, mu[None], 1 - mu[None]), axis=2)\n"
        "resp = weights * like\nresp = resp / resp.sum(axis=1, keepdims=True)\n"
        "counts = resp.sum(axis=0)\n"
        "return counts / len(x), np.clip(resp.T @ x / counts[:, None], 1e-3, 1 - 1e-3)",
        "log space",
        where="def em_step",
    ),
    Wrong(
        "em_experiment",
        "responsibilities normalised over the images",
        "mu = np.clip(means, 1e-3, 1 - 1e-3)\n"
        "joint = np.log(weights) + x @ np.log(mu).T + (1 - x) @ np.log(1 - mu).T\n"
        "resp = np.exp(joint - joint.max(axis=0, keepdims=True))\n"
        "resp /= resp.sum(axis=0, keepdims=True)\ncounts = resp.sum(axis=0)\n"
        "return counts / counts.sum(), np.clip(resp.T @ x / counts[:, None], 1e-3, 1 - 1e-3)",
        "per image",
        where="def em_step",
    ),
    Wrong(
        "em_experiment",
        "weights never updated",
        "mu = np.clip(means, 1e-3, 1 - 1e-3)\n"
        "joint = np.log(weights) + x @ np.log(mu).T + (1 - x) @ np.log(1 - mu).T\n"
        "resp = np.exp(joint - joint.max(axis=1, keepdims=True))\n"
        "resp /= resp.sum(axis=1, keepdims=True)\ncounts = resp.sum(axis=0)\n"
        "return weights, np.clip(resp.T @ x / counts[:, None], 1e-3, 1 - 1e-3)",
        "unchanged",
        where="def em_step",
    ),
    Wrong(
        "em_experiment",
        "labels assumed to be the best clusters",
        "answer_em_beats_labels = False",
        "says the opposite",
    ),
    Wrong(
        "autoregressive", "the article's BERT", 'answer_autoregressive = "a"', "article's mistake"
    ),
    Wrong("autoregressive", "both", 'answer_autoregressive = "c"', "BERT is not autoregressive"),
)

_add(
    "02_core_concepts.ipynb",
    Wrong(
        "alpha_bar",
        "product of the betas",
        "return np.cumprod(np.asarray(betas, dtype=np.float64))",
        "not the betas",
    ),
    Wrong(
        "alpha_bar",
        "alpha_t, not the running product",
        "return 1.0 - np.asarray(betas)",
        "running product",
    ),
    Wrong(
        "alpha_bar",
        "library call instead of own code",
        "return diffusion.alpha_bars(betas)",
        "library",
    ),
    Wrong(
        "noisy",
        "0-based t",
        "a = alpha_bar(betas)[t]\nreturn np.sqrt(a) * x0 + np.sqrt(1.0 - a) * eps",
        "1-based",
    ),
    Wrong(
        "noisy",
        "variances instead of standard deviations",
        "a = alpha_bar(betas)[t - 1]\nreturn a * x0 + (1.0 - a) * eps",
        "square roots",
    ),
    Wrong(
        "bigram",
        "transposed matrix",
        "counts = np.zeros((vocab_size, vocab_size))\nnp.add.at(counts, (ids[1:], ids[:-1]), 1)\n"
        "counts += smoothing\nreturn (counts / counts.sum(axis=0, keepdims=True))",
        "transpose",
    ),
    Wrong(
        "bigram",
        "rows do not sum to 1",
        "counts = np.zeros((vocab_size, vocab_size))\nnp.add.at(counts, (ids[:-1], ids[1:]), 1)\n"
        "return (counts + smoothing) / counts.sum()",
        "sum to 1",
    ),
    Wrong(
        "bigram",
        "library call instead of own code",
        "return charlm.bigram_probs(charlm.bigram_counts(ids, vocab_size), smoothing)",
        "count the pairs yourself",
    ),
    Wrong(
        "temperature",
        "multiplies by the temperature",
        "z = np.asarray(logits, dtype=np.float64) * temperature\np = np.exp(z - z.max())\n"
        "return p / p.sum()",
        "do not multiply",
    ),
    Wrong(
        "temperature",
        "no max subtraction: overflow",
        "p = np.exp(np.asarray(logits, dtype=np.float64) / temperature)\nreturn p / p.sum()",
        "overflows",
    ),
    Wrong(
        "temperature_experiment",
        "a fresh rng from the seed at every step (fixed noise)",
        "logits = np.log(P)\nids = np.empty(length, dtype=np.int64)\nprevious = start\n"
        "for i in range(length):\n    rng = np.random.default_rng(seed)\n"
        "    previous = ids[i] = rng.choice(len(P), p=softmax_t(logits[previous], temperature))\n"
        "return ids",
        "same random draw",
        where="def sample_text",
    ),
    Wrong(
        "temperature_experiment",
        "probabilities where logits are expected",
        "rng = np.random.default_rng(seed)\nids = np.empty(length, dtype=np.int64)\n"
        "previous = start\nfor i in range(length):\n"
        "    previous = ids[i] = rng.choice(len(P), p=softmax_t(P[previous], temperature))\n"
        "return ids",
        "probabilities where logits are expected",
        where="def sample_text",
    ),
    Wrong(
        "temperature_experiment",
        "low temperature thought more surprising",
        'answer_lower_t = "c"',
        "your letter says more and less",
    ),
    Wrong(
        "families",
        "BERT autoregressive",
        'answer_families = {"GPT-2": "autoregressive", "BERT": "autoregressive", '
        '"PixelCNN": "autoregressive", "DCGAN": "adversarial", "DDPM": "diffusion"}',
        "BERT is not autoregressive",
    ),
    Wrong(
        "families",
        "PixelCNN a diffusion model",
        'answer_families = {"GPT-2": "autoregressive", "BERT": "masked", '
        '"PixelCNN": "diffusion", "DCGAN": "adversarial", "DDPM": "diffusion"}',
        "pixel by pixel",
    ),
    Wrong(
        "augmentation",
        "small rotations are unsafe",
        'answer_augmentation = "a"',
        "stays the same digit",
    ),
    Wrong("augmentation", "zoom is unsafe", 'answer_augmentation = "d"', "stays the same digit"),
)

_add(
    "03_workflow.ipynb",
    Wrong(
        "select_few_shot",
        "the first k, not random",
        "return images[np.flatnonzero(labels == digit)[:k]]",
        "not a random sample",
    ),
    Wrong(
        "select_few_shot",
        "with replacement",
        "candidates = np.flatnonzero(labels == digit)\nrng = np.random.default_rng(seed)\n"
        "return images[rng.choice(candidates, size=k, replace=True)]",
        "picked twice",
    ),
    Wrong(
        "select_few_shot",
        "no error when k is too large",
        "candidates = np.flatnonzero(labels == digit)\nrng = np.random.default_rng(seed)\n"
        "return images[rng.permutation(candidates)[:k]]",
        "should raise ValueError",
    ),
    Wrong(
        "select_few_shot",
        "seeds NumPy's global generator",
        "candidates = np.flatnonzero(labels == digit)\n"
        "if k > len(candidates):\n"
        "    raise ValueError(f'only {len(candidates)} examples of {digit}, asked for {k}')\n"
        "np.random.seed(seed)\n"
        "return images[np.random.choice(candidates, size=k, replace=False)]",
        "global random state",
    ),
    Wrong(
        "label_drift",
        "no factor 1/2",
        "p = np.bincount(labels_a, minlength=n_classes) / len(labels_a)\n"
        "q = np.bincount(labels_b, minlength=n_classes) / len(labels_b)\n"
        "return float(np.abs(p - q).sum())",
        "factor 1/2",
    ),
    Wrong(
        "label_drift",
        "raw counts, not fractions",
        "p = np.bincount(labels_a, minlength=n_classes)\n"
        "q = np.bincount(labels_b, minlength=n_classes)\n"
        "return float(0.5 * np.abs(p - q).sum())",
        "normalise each histogram",
    ),
    Wrong(
        "label_drift",
        "largest single difference, not the total",
        "p = np.bincount(labels_a, minlength=n_classes) / len(labels_a)\n"
        "q = np.bincount(labels_b, minlength=n_classes) / len(labels_b)\n"
        "return float(np.abs(p - q).max())",
        "max |p - q|",
    ),
    Wrong(
        "make_generate",
        "fixed noise: rng made per request",
        "model = keras.saving.load_model(path, compile=False)\n\ndef generate(n):\n"
        "    rng = np.random.default_rng(seed)\n"
        "    z = rng.standard_normal((n, model.input_shape[-1])).astype('float32')\n"
        "    return to_uint8(model(z, training=False))\n\nreturn generate",
        "fresh",
    ),
    Wrong(
        "make_generate",
        "float pixels",
        "model = keras.saving.load_model(path, compile=False)\nrng = np.random.default_rng(seed)\n\n"
        "def generate(n):\n"
        "    z = rng.standard_normal((n, model.input_shape[-1])).astype('float32')\n"
        "    return np.asarray(model(z, training=False))[..., 0]\n\nreturn generate",
        "uint8",
    ),
    Wrong(
        "make_generate",
        "generator called with training=True",
        "model = keras.saving.load_model(path, compile=False)\nrng = np.random.default_rng(seed)\n\n"
        "def generate(n):\n"
        "    z = rng.standard_normal((n, model.input_shape[-1])).astype('float32')\n"
        "    return to_uint8(model(z, training=True))\n\nreturn generate",
        "training=True",
    ),
    Wrong(
        "make_generate",
        "tanh output treated as [0, 1]",
        "model = keras.saving.load_model(path, compile=False)\nrng = np.random.default_rng(seed)\n\n"
        "def generate(n):\n"
        "    z = rng.standard_normal((n, model.input_shape[-1])).astype('float32')\n"
        "    x = np.asarray(model(z, training=False))[..., 0]\n"
        "    return (np.clip(x, 0, 1) * 255).astype(np.uint8)\n\nreturn generate",
        "as if it were [0, 1]",
    ),
    Wrong(
        "tv_noise_experiment",
        "a sample against the whole set",
        "rng = np.random.default_rng(seed)\nout = np.empty(trials)\nfor i in range(trials):\n"
        "    pick = rng.permutation(len(labels))[:n]\n"
        "    out[i] = label_drift(labels[pick], labels)\nreturn out",
        "whole set",
        where="def tv_noise",
    ),
    Wrong(
        "tv_noise_experiment",
        "the same sample twice",
        "rng = np.random.default_rng(seed)\nout = np.empty(trials)\nfor i in range(trials):\n"
        "    pick = rng.permutation(len(labels))[:n]\n"
        "    out[i] = label_drift(labels[pick], labels[pick])\nreturn out",
        "same sample",
        where="def tv_noise",
    ),
    Wrong("tv_noise_experiment", "noise falls like 1/n", "answer_ratio = 4.0", "1/sqrt(n)"),
    Wrong(
        "evaluation_choice",
        "discriminator loss",
        'answer_evaluation = "c"',
        "discriminator is winning",
    ),
    Wrong(
        "evaluation_choice",
        "cross-validated generator loss",
        'answer_evaluation = "a"',
        "two-player game",
    ),
    Wrong("monitoring_diagnosis", "copying", 'answer_monitoring = "a"', "nearest-neighbour"),
    Wrong(
        "monitoring_diagnosis",
        "users asked for other digits",
        'answer_monitoring = "d"',
        "unconditional",
    ),
)

_add(
    "04_gan_objective.ipynb",
    Wrong("optimal_d", "1 - D*", "return p_g / (p_data + p_g)", "1 - D*"),
    Wrong("optimal_d", "a ratio, not a probability", "return p_data / p_g", "probability"),
    Wrong(
        "non_saturating_loss",
        "the library's generator_loss (alias)",
        "from aigc_course.losses import generator_loss\n\nreturn generator_loss(fake_logits)",
        "library",
    ),
    Wrong(
        "non_saturating_loss",
        "the saturating loss",
        "return -tf.reduce_mean(tf.nn.softplus(tf.cast(fake_logits, tf.float32)))",
        "saturating loss log(1 - D)",
    ),
    Wrong(
        "non_saturating_loss",
        "log of sigmoid: log(0) at -200",
        "return -tf.reduce_mean(tf.math.log(tf.sigmoid(tf.cast(fake_logits, tf.float32))))",
        "softplus",
    ),
    Wrong(
        "non_saturating_loss",
        "probabilities where logits are expected",
        "return -tf.reduce_mean(tf.math.log(tf.cast(fake_logits, tf.float32)))",
        "logits",
    ),
    Wrong("jsd", "game1d.js_divergence", "return game1d.js_divergence(p, q, x)", "js_divergence"),
    Wrong(
        "jsd",
        "bits instead of nats",
        "m = 0.5 * (p + q)\n\ndef kl(a, b):\n    with np.errstate(divide='ignore', invalid='ignore'):\n"
        "        return game1d.integrate(np.where(a > 0, a * np.log2(a / b), 0.0), x)\n\n"
        "return 0.5 * kl(p, m) + 0.5 * kl(q, m)",
        "bits",
    ),
    Wrong(
        "jsd",
        "sum of the two KL terms, not their mean",
        "m = 0.5 * (p + q)\n\ndef kl(a, b):\n    with np.errstate(divide='ignore', invalid='ignore'):\n"
        "        return game1d.integrate(np.where(a > 0, a * np.log(a / b), 0.0), x)\n\n"
        "return kl(p, m) + kl(q, m)",
        "1/2",
    ),
    Wrong("q1_article_loss", "as intended", 'answer_q1 = "a"', "backwards"),
    Wrong("q1_article_loss", "it is the BCE", 'answer_q1 = "d"', "minus sign"),
    Wrong("q2_value_at_optimum", "+log 4", "answer_q2 = np.log(4)", "sign"),
    Wrong("q2_value_at_optimum", "one term only", "answer_q2 = -np.log(2)", "one of the two"),
)

_SLOPES = (
    "x = game1d.grid(data, Normal(min(mus), sigma), Normal(max(mus), sigma), n=8001)\n"
    "p = data.pdf(x)\nrows = []\nfor mu in mus:\n{frozen}"
    "    def ns(m):\n        q = Normal(m, sigma).pdf(x)\n"
    "        return game1d.integrate(q * np.logaddexp(0.0, -{logits}), x)\n\n"
    "    def kl2(m):\n        return game1d.kl_minus_two_jsd(p, Normal(m, sigma).pdf(x), x)\n\n"
    "    def jsd2(m):\n        return 2.0 * game1d.js_divergence(p, Normal(m, sigma).pdf(x), x)\n\n"
    "    rows.append([{diff} for f in (ns, kl2, jsd2)])\nreturn np.array(rows).T"
)
_CENTRAL = "(f(mu + h) - f(mu - h)) / (2.0 * h)"
_add(
    "04_gan_objective.ipynb",
    Wrong(
        "divergence_experiment",
        "D re-optimised for every shifted generator",
        _SLOPES.format(frozen="", logits="game1d.optimal_logits(p, q)", diff=_CENTRAL),
        "frozen",
        where="def measure_slopes",
    ),
    Wrong(
        "divergence_experiment",
        "one-sided difference with a big step",
        _SLOPES.format(
            frozen="    frozen = game1d.optimal_logits(p, Normal(mu, sigma).pdf(x))\n",
            logits="frozen",
            diff="(f(mu + 0.5) - f(mu)) / 0.5",
        ),
        "central differences",
        where="def measure_slopes",
    ),
    Wrong(
        "divergence_experiment",
        "answers the JSD against the measurement",
        'answer_follows = "jsd"',
        "your own measurement says otherwise",
    ),
)

_add(
    "05_dcgan_mnist.ipynb",
    Wrong("upsampled_size", "'valid' treated as 'same'", "return size * stride", "sticks out"),
    Wrong(
        "upsampled_size",
        "downsampling formula",
        "return (size - kernel) // stride + 1",
        "downsampling",
    ),
    Wrong(
        "generate_digits",
        "training=True",
        "latent_dim = generator.input_shape[-1]\n"
        "z = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype('float32')\n"
        "return to_uint8(generator(z, training=True))",
        "training=True",
    ),
    Wrong(
        "generate_digits",
        "uniform noise",
        "latent_dim = generator.input_shape[-1]\n"
        "z = np.random.default_rng(seed).uniform(size=(n, latent_dim)).astype('float32')\n"
        "return to_uint8(generator(z, training=False))",
        "uniform",
    ),
    Wrong(
        "generate_digits",
        "training=False forgotten",
        "latent_dim = generator.input_shape[-1]\n"
        "z = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype('float32')\n"
        "return to_uint8(generator(z))",
        "training=None",
    ),
    Wrong(
        "generate_digits",
        "channel axis kept",
        "latent_dim = generator.input_shape[-1]\n"
        "z = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype('float32')\n"
        "return to_uint8(generator(z, training=False))[..., None]",
        "shape",
    ),
    Wrong(
        "lerp",
        "1-based t: starts one step in",
        "t = np.arange(1, steps + 1)[:, None] / steps\n"
        "return (1 - t) * np.asarray(z0) + t * np.asarray(z1)",
        "0- vs 1-based",
    ),
    Wrong(
        "lerp",
        "end point left out",
        "t = np.arange(steps)[:, None] / steps\n"
        "return (1 - t) * np.asarray(z0) + t * np.asarray(z1)",
        "end point",
    ),
    Wrong(
        "lerp",
        "backwards",
        "t = np.linspace(0.0, 1.0, steps)[:, None]\nreturn t * np.asarray(z0) + (1 - t) * np.asarray(z1)",
        "backwards",
    ),
    Wrong(
        "batch_experiment",
        "training flag ignored",
        "images = []\nfor others in companions:\n"
        "    batch = np.concatenate([z0[None], others]).astype('float32')\n"
        "    images.append(np.asarray(generator(batch, training=False))[0])\n"
        "return float(max(np.abs(image - images[0]).max() for image in images))",
        "ignores `training`",
        where="def batch_dependence",
    ),
    Wrong(
        "batch_experiment",
        "compares whole batches, not z0's image",
        "images = []\nfor others in companions:\n"
        "    batch = np.concatenate([z0[None], others]).astype('float32')\n"
        "    images.append(np.asarray(generator(batch, training=training)))\n"
        "return float(max(np.abs(image - images[0]).max() for image in images))",
        "compared the other images",
        where="def batch_dependence",
    ),
    Wrong(
        "batch_experiment",
        "batch norm thought harmless",
        "answer_depends = False",
        "your answer says otherwise",
    ),
    Wrong("q1_fid_floor", "the best FID on MNIST", 'answer_q1 = "b"', "number of images"),
    Wrong("q1_fid_floor", "random noise", 'answer_q1 = "d"', "random noise"),
)

_G_LAYERS = (
    "return keras.Sequential([\n    keras.Input((latent_dim,)),\n"
    "    layers.Dense(7 * 7 * num_filters, activation='relu'),\n"
    "    layers.Reshape((7, 7, num_filters)),\n"
    "    layers.Conv2DTranspose(num_filters, 4, strides=2, padding='same'{a}),\n"
    "    layers.Conv2DTranspose(num_filters // 2, 4, strides=2, padding='same'{a}),\n"
    "    layers.Conv2D(1, 3, padding='same', activation='{out}'),\n])"
)
_STEP = (
    "batch = tf.shape(real)[0]\nz = tf.random.normal((batch, latent_dim))\n"
    "fake = generator(z, training=True)\nwith tf.GradientTape() as tape:\n"
    "    real_logits = discriminator(real, training=True)\n"
    "    fake_logits = discriminator(fake, training=True)\n"
    "    d_loss = bce(tf.ones_like(real_logits), real_logits) + bce(tf.zeros_like(fake_logits), fake_logits)\n"
    "d_vars = discriminator.trainable_variables\n"
    "d_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars))\n"
    "with tf.GradientTape() as tape:\n"
    "    fake_logits = discriminator(generator({noise}, training=True), training=True)\n"
    "    g_loss = {g_loss}\n"
    "g_vars = generator.trainable_variables\n"
    "g_optimizer.apply_gradients(zip(tape.gradient(g_loss, g_vars), g_vars))\n"
    "return d_loss, g_loss"
)
_NS = "bce(tf.ones_like(fake_logits), fake_logits)"
_FRESH = "tf.random.normal((batch, latent_dim))"

_add(
    "06_debugging_the_article.ipynb",
    Wrong(
        "fixed_generator",
        "no activations between the transposed convolutions",
        _G_LAYERS.format(a="", out="tanh"),
        "no activation between them",
    ),
    Wrong(
        "fixed_generator",
        "the article's sigmoid output",
        _G_LAYERS.format(a=", activation='relu'", out="sigmoid"),
        "tanh",
    ),
    Wrong(
        "fixed_generator",
        "linear output hard-clipped to [-1, 1]",
        _G_LAYERS.format(a=", activation='relu'", out="linear").replace(
            "\n])", "\n    layers.Lambda(lambda x: keras.ops.clip(x, -1.0, 1.0)),\n])"
        ),
        "clipped",
    ),
    Wrong(
        "fixed_generator",
        "channels-first reshape",
        _G_LAYERS.format(a=", activation='relu'", out="tanh").replace(
            "Reshape((7, 7, num_filters))", "Reshape((num_filters, 7, 7))"
        ),
        "channels-first",
    ),
    Wrong(
        "fixed_discriminator",
        "no activations (defect 6a)",
        "return keras.Sequential([keras.Input((28, 28, 1)),\n"
        "    layers.Conv2D(num_filters, 3, strides=2, padding='same'),\n"
        "    layers.Conv2D(num_filters * 2, 3, strides=2, padding='same'),\n"
        "    layers.Flatten(), layers.Dense(1)])",
        "affine",
    ),
    Wrong(
        "fixed_discriminator",
        "probabilities where logits are expected",
        "return keras.Sequential([keras.Input((28, 28, 1)),\n"
        "    layers.Conv2D(num_filters, 3, strides=2, padding='same'), layers.LeakyReLU(0.2),\n"
        "    layers.Conv2D(num_filters * 2, 3, strides=2, padding='same'), layers.LeakyReLU(0.2),\n"
        "    layers.Flatten(), layers.Dense(1, activation='sigmoid')])",
        "sigmoid",
    ),
    Wrong(
        "train_step",
        "saturating generator loss",
        _STEP.format(noise=_FRESH, g_loss="-bce(tf.zeros_like(fake_logits), fake_logits)"),
        "saturating",
    ),
    Wrong(
        "train_step",
        "same noise reused for both players",
        _STEP.format(noise="z", g_loss=_NS),
        "reused the noise",
    ),
    Wrong(
        "train_step",
        "generator labels its fakes 0",
        _STEP.format(noise=_FRESH, g_loss="bce(tf.zeros_like(fake_logits), fake_logits)"),
        "fakes called real",
    ),
    Wrong(
        "train_step",
        "generator's optimizer also updates the discriminator",
        _STEP.format(noise=_FRESH, g_loss=_NS).replace(
            "g_vars = generator.trainable_variables",
            "g_vars = generator.trainable_variables + discriminator.trainable_variables",
        ),
        "g_optimizer also updated the discriminator's weights",
    ),
    Wrong(
        "train_step",
        "generator updated before the discriminator",
        "batch = tf.shape(real)[0]\n"
        "with tf.GradientTape() as tape:\n"
        "    fake_logits = discriminator(generator(tf.random.normal((batch, latent_dim)), training=True), training=True)\n"
        "    g_loss = bce(tf.ones_like(fake_logits), fake_logits)\n"
        "g_vars = generator.trainable_variables\n"
        "g_optimizer.apply_gradients(zip(tape.gradient(g_loss, g_vars), g_vars))\n"
        "fake = generator(tf.random.normal((batch, latent_dim)), training=True)\n"
        "with tf.GradientTape() as tape:\n"
        "    real_logits = discriminator(real, training=True)\n"
        "    fake_logits = discriminator(fake, training=True)\n"
        "    d_loss = bce(tf.ones_like(real_logits), real_logits) + bce(tf.zeros_like(fake_logits), fake_logits)\n"
        "d_vars = discriminator.trainable_variables\n"
        "d_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars))\n"
        "return d_loss, g_loss",
        "generator was updated before the discriminator",
    ),
    Wrong(
        "discriminator_accuracy",
        "plain NumPy instead of one BinaryAccuracy",
        "real, fake = np.asarray(real_logits), np.asarray(fake_logits)\n"
        "return float((np.sum(real > 0) + np.sum(fake < 0)) / (real.size + fake.size))",
        "BinaryAccuracy",
    ),
    Wrong(
        "discriminator_accuracy",
        "threshold 0.5 on logits",
        "metric = keras.metrics.BinaryAccuracy()\n"
        "metric.update_state(tf.ones_like(real_logits), real_logits)\n"
        "metric.update_state(tf.zeros_like(fake_logits), fake_logits)\n"
        "return float(metric.result())",
        "threshold at 0",
    ),
    Wrong(
        "discriminator_accuracy",
        "reset before reading",
        "metric = keras.metrics.BinaryAccuracy(threshold=0.0)\n"
        "metric.update_state(tf.ones_like(real_logits), real_logits)\n"
        "metric.update_state(tf.zeros_like(fake_logits), fake_logits)\n"
        "metric.reset_state()\nreturn float(metric.result())",
        "reset",
    ),
    Wrong(
        "affine_experiment",
        "the identity without f(0)",
        "return float(tf.reduce_max(tf.abs(f(a) + f(b) - f(a + b))))",
        "f(0)",
        where="def affine_gap",
    ),
    Wrong(
        "affine_experiment",
        "activation='linear' taken for a non-linearity",
        'answer_affine = {"A": False, "B": True, "C": False, "D": False}',
        "in name only",
    ),
    Wrong(
        "affine_experiment",
        "one activation thought not enough",
        'answer_affine = {"A": False, "B": True, "C": True, "D": True}',
        "one non-linearity",
    ),
    Wrong("q1_save_name", "the article's .h5 name", 'answer_q1 = "generator_epoch_1.h5"', "fails"),
    Wrong("q1_save_name", "not a string", "answer_q1 = 1", "expected a file name"),
)

_POSTERIOR = (
    "abar = {abar}\n"
    "beta = betas[t - 1]\n"
    "mean = (np.sqrt(abar[t - 1]) * beta * x0 + np.sqrt(1.0 - beta) * (1.0 - abar[t - 1]) * x_t) / (\n"
    "    1.0 - abar[t]\n"
    ")\n"
    "return mean, {variance}"
)
_TILDE = "(1.0 - abar[t - 1]) / (1.0 - abar[t]) * beta"
_SAMPLER = (
    "visits = {visits}\n"
    "x = x_T\n"
    "for t, s in zip(visits[:-1], visits[1:], strict=True):\n"
    "    x = ddim_step(x, eps_fn(x, alpha_bar[{t}]), alpha_bar[{t}], alpha_bar[{s}])\n"
    "return x"
)
_VISITS = "[*diffusion.sampling_timesteps(len(alpha_bar) - 1, steps), 0]"

_add(
    "07_diffusion.ipynb",
    Wrong(
        "posterior",
        "0-based t: alpha_bar without alpha_bar_0",
        _POSTERIOR.format(
            abar="np.cumprod(1.0 - np.asarray(betas, dtype=np.float64))", variance=_TILDE
        ),
        "t is 1-based",
    ),
    Wrong(
        "posterior",
        "alpha_t for alpha_bar_t",
        _POSTERIOR.format(
            abar="np.concatenate([[1.0], 1.0 - np.asarray(betas, dtype=np.float64)])",
            variance=_TILDE,
        ),
        "not the single alpha_t",
    ),
    Wrong(
        "posterior",
        "forward variance beta_t",
        _POSTERIOR.format(
            abar="np.concatenate([[1.0], np.cumprod(1.0 - np.asarray(betas, dtype=np.float64))])",
            variance="beta",
        ),
        "beta_tilde_t",
    ),
    Wrong(
        "posterior",
        "library call instead of own code",
        "c0, ct, var = diffusion.posterior_moments(betas, t)\nreturn c0 * x0 + ct * x_t, var",
        "calls posterior_moments",
    ),
    Wrong(
        "v_to_x0_eps",
        "eps first, x0 second",
        "sa, sb = np.sqrt(alpha_bar), np.sqrt(1.0 - alpha_bar)\nreturn sb * x_t + sa * v, sa * x_t - sb * v",
        "x0 first",
    ),
    Wrong(
        "v_to_x0_eps",
        "alpha_bar without square roots",
        "return alpha_bar * x_t - (1.0 - alpha_bar) * v, (1.0 - alpha_bar) * x_t + alpha_bar * v",
        "square roots",
    ),
    Wrong(
        "v_to_x0_eps",
        "library call instead of own code",
        'return diffusion.to_x0_eps(x_t, v, alpha_bar, "v")',
        "calls to_x0_eps",
    ),
    Wrong(
        "ddim_step",
        "x0 where x_s is expected",
        "return (x_t - np.sqrt(1.0 - alpha_bar_t) * eps_hat) / np.sqrt(alpha_bar_t)",
        "estimate of x0",
    ),
    Wrong(
        "ddim_step",
        "re-noised to level t",
        "x0_hat = (x_t - np.sqrt(1.0 - alpha_bar_t) * eps_hat) / np.sqrt(alpha_bar_t)\n"
        "return np.sqrt(alpha_bar_t) * x0_hat + np.sqrt(1.0 - alpha_bar_t) * eps_hat",
        "use alpha_bar_s",
    ),
    Wrong(
        "ddim_step",
        "re-noises x_t, no x0 estimate",
        "return np.sqrt(alpha_bar_s) * x_t + np.sqrt(1.0 - alpha_bar_s) * eps_hat",
        "first estimate x0",
    ),
    Wrong(
        "guidance",
        "cond and uncond swapped",
        "return cond + w * (uncond - cond)",
        "wrong way round",
    ),
    Wrong("guidance", "starts from cond", "return cond + w * (cond - uncond)", "plain conditional"),
    Wrong("guidance", "scales cond by w", "return w * cond", "not guidance"),
    Wrong("schedule", "same share", 'answer_schedule = "a"', "174 of 1000"),
    Wrong("schedule", "cosine destroys faster", 'answer_schedule = "c"', "noisy end"),
    Wrong("schedule", "cosine never reaches noise", 'answer_schedule = "d"', "pure noise"),
    Wrong(
        "ddim_experiment",
        "never jumps to t = 0",
        _SAMPLER.format(
            visits="list(diffusion.sampling_timesteps(len(alpha_bar) - 1, steps))", t="t", s="s"
        ),
        "never jumps to t = 0",
        where="def ddim_sample",
    ),
    Wrong(
        "ddim_experiment",
        "0-based t: alpha_bar[t - 1]",
        _SAMPLER.format(visits=_VISITS, t="t - 1", s="s - 1"),
        "1-based",
        where="def ddim_sample",
    ),
    Wrong(
        "ddim_experiment",
        "one jump is enough, as with the true noise",
        "answer_min_steps = 1",
        "E[x0 | x_T]",
    ),
    Wrong("ddim_experiment", "a row above the tolerance", "answer_min_steps = 50", "not below"),
    Wrong(
        "ddim_experiment", "not the fewest", "answer_min_steps = 200", "fewer steps already suffice"
    ),
)

_TEMPERATURE = (
    "inputs, targets, weights = rows\n"
    "logits, picked = [], []\n"
    "for i in range(0, len(inputs), 32):\n"
    "    keep = weights[i : i + 32] > 0\n"
    "    logits.append(np.asarray(model(inputs[i : i + 32]))[keep])\n"
    "    picked.append(targets[i : i + 32][keep])\n"
    "logits, picked = np.concatenate(logits), np.concatenate(picked)\n"
    "results = {{}}\n"
    "for t in temperatures:\n"
    "    poems = gpt.write_poems(model, n_poems, seed=0{sample_at})\n"
    "    results[t] = {{\n"
    '        "bits": {bits},\n'
    '        "right_length": tang.form_report(poems)["right_length"],\n'
    "    }}\n"
    "return results"
)
_ATTENTION = (
    "scores = {scores}\n"
    "{masked}"
    "scores = scores - scores.max(axis={axis}, keepdims=True)\n"
    "weights = np.exp(scores)\n"
    "weights = weights / weights.sum(axis={axis}, keepdims=True)\n"
    "{after}"
    "return weights @ v, weights"
)
_MASKED = "scores = np.where(mask, scores, -np.inf)\n"
_SCALED = "q @ k.T / np.sqrt(q.shape[-1])"
_NUCLEUS = (
    "order = np.argsort({order}probs, kind='stable')\n"
    "before = np.cumsum(probs[order]){minus}\n"
    "keep = np.zeros(len(probs), dtype=bool)\n"
    "keep[order[before < p]] = True\n"
    "kept = np.where(keep, probs, 0.0)\n"
    "return {result}"
)

_add(
    "08_tang_gpt.ipynb",
    Wrong(
        "causal_mask",
        "transposed: upper triangle",
        "return np.triu(np.ones((T, T), dtype=bool))",
        "future, not the past",
    ),
    Wrong(
        "causal_mask",
        "strict: the diagonal left out",
        "return np.tril(np.ones((T, T), dtype=bool), k=-1)",
        "cannot see itself",
    ),
    Wrong(
        "causal_mask",
        "inverted, PyTorch's convention (True = blocked)",
        "return np.triu(np.ones((T, T), dtype=bool), k=1)",
        "inverted",
    ),
    Wrong(
        "causal_mask",
        "bidirectional, as in BERT",
        "return np.ones((T, T), dtype=bool)",
        "bidirectional",
    ),
    Wrong(
        "attention",
        "no 1/sqrt(d)",
        _ATTENTION.format(scores="q @ k.T", masked=_MASKED, axis=-1, after=""),
        "without dividing by sqrt(d)",
    ),
    Wrong(
        "attention",
        "softmax over the queries",
        _ATTENTION.format(
            scores=_SCALED, masked="scores = np.where(mask, scores, -1e9)\n", axis=0, after=""
        ),
        "over the queries",
    ),
    Wrong(
        "attention",
        "mask after the softmax",
        _ATTENTION.format(scores=_SCALED, masked="", axis=-1, after="weights = weights * mask\n"),
        "after the softmax",
    ),
    Wrong(
        "attention",
        "its own causal mask instead of the mask argument",
        _ATTENTION.format(
            scores=_SCALED,
            masked="scores = np.where(np.tril(np.ones_like(scores, dtype=bool)), scores, -np.inf)\n",
            axis=-1,
            after="",
        ),
        "instead of using the `mask` argument",
    ),
    Wrong(
        "attention",
        "k not transposed",
        _ATTENTION.format(scores="q @ k / np.sqrt(q.shape[-1])", masked=_MASKED, axis=-1, after=""),
        "q @ k.T",
    ),
    Wrong(
        "bits_per_char",
        "nats instead of bits",
        "logits = np.asarray(logits, dtype=np.float64)\n"
        "log_p = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)\n"
        "return float(-log_p[np.arange(len(targets)), targets].mean())",
        "nats",
    ),
    Wrong(
        "bits_per_char",
        "logits used as probabilities",
        "return float(-np.log2(logits[np.arange(len(targets)), targets]).mean())",
        "logits were used as probabilities",
    ),
    Wrong(
        "bits_per_char",
        "total instead of mean",
        "logits = np.asarray(logits, dtype=np.float64)\n"
        "log_p = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)\n"
        "return float(-log_p[np.arange(len(targets)), targets].sum() / np.log(2))",
        "total over all characters",
    ),
    Wrong(
        "top_p",
        "nucleus drops the crossing token",
        _NUCLEUS.format(order="-", minus="", result="kept / kept.sum()"),
        "crosses p was dropped",
    ),
    Wrong(
        "top_p",
        "not renormalised",
        _NUCLEUS.format(order="-", minus=" - probs[order]", result="kept"),
        "not renormalised",
    ),
    Wrong(
        "top_p",
        "left in sorted order",
        _NUCLEUS.format(order="-", minus=" - probs[order]", result="kept[order] / kept.sum()"),
        "sorted order",
    ),
    Wrong(
        "top_p",
        "sorted from the least likely up",
        _NUCLEUS.format(order="", minus=" - probs[order]", result="kept / kept.sum()"),
        "most likely token was removed",
    ),
    Wrong(
        "poem_temperature_experiment",
        "nats instead of bits",
        _TEMPERATURE.format(
            sample_at=", temperature=t", bits="bits_per_char(logits / t, picked) * np.log(2)"
        ),
        "that is nats",
        where="def temperature_results",
    ),
    Wrong(
        "poem_temperature_experiment",
        "logits multiplied by T",
        _TEMPERATURE.format(sample_at=", temperature=t", bits="bits_per_char(logits * t, picked)"),
        "multiplied by T",
        where="def temperature_results",
    ),
    Wrong(
        "poem_temperature_experiment",
        "every poem sampled at T = 1",
        _TEMPERATURE.format(sample_at="", bits="bits_per_char(logits / t, picked)"),
        "sampled at T = 1",
        where="def temperature_results",
    ),
    Wrong(
        "poem_temperature_experiment",
        "colder is better",
        "answer_lowest_bits = 0.7",
        "more confident, not better calibrated",
    ),
    Wrong(
        "poem_temperature_experiment",
        "hotter is better",
        "answer_lowest_bits = 1.3",
        "hotter T spreads",
    ),
)

_KL = "return 0.5 * np.{reduce}({mean} + np.exp(log_var) - 1.0 - log_var, axis=-1)"
_PRECISION_RECALL = (
    "real, generated = np.asarray(real, np.float64), np.asarray(generated, np.float64)\n"
    "\n"
    "def distances(a, b):\n"
    "    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1))\n"
    "\n"
    "real_radii = np.sort(distances(real, real), axis=1)[:, {column}]\n"
    "generated_radii = np.sort(distances(generated, generated), axis=1)[:, {column}]\n"
    "cross = distances(generated, real)\n"
    "precision = (cross <= {precision_radii}).any(axis=1).{share}()\n"
    "recall = (cross.T <= generated_radii[None, :]).any(axis=1).{share}()\n"
    "return {result}"
)
_PR_RIGHT = {
    "column": "k",
    "precision_radii": "real_radii[None, :]",
    "share": "mean",
    "result": "float(precision), float(recall)",
}
_SWEEP = "return [{pair} for scale in scales]"

_add(
    "09_family_bench.ipynb",
    Wrong(
        "kl_normal",
        "log_var used as the variance",
        "return 0.5 * np.sum(mean**2 + log_var - 1.0 - np.log(log_var), axis=-1)",
        "log of the variance",
    ),
    Wrong(
        "kl_normal",
        "the 1/2 missing",
        "return np.sum(mean**2 + np.exp(log_var) - 1.0 - log_var, axis=-1)",
        "1/2 in front is missing",
    ),
    Wrong(
        "kl_normal",
        "mean over the dimensions",
        _KL.format(reduce="mean", mean="mean**2"),
        "mean over the dimensions",
    ),
    Wrong(
        "kl_normal", "minus mean squared", _KL.format(reduce="sum", mean="-(mean**2)"), "sign slip"
    ),
    Wrong(
        "kl_normal",
        "log_var read as log sigma",
        "return 0.5 * np.sum(mean**2 + np.exp(2 * log_var) - 1.0 - 2 * log_var, axis=-1)",
        "not log σ",
    ),
    Wrong(
        "kl_normal",
        "sigma where sigma^2 belongs",
        _KL.format(reduce="sum", mean="mean**2").replace("np.exp(log_var)", "np.exp(log_var / 2)"),
        "standard deviation",
    ),
    Wrong(
        "kl_normal",
        "library call instead of own code",
        "from aigc_course import vae\nreturn np.asarray(vae.gaussian_kl(mean, log_var))",
        "calls gaussian_kl",
    ),
    Wrong(
        "bits_per_dim",
        "nats instead of bits",
        "return nll_nats / dims + np.log(256.0 / value_range)",
        "that is nats",
    ),
    Wrong(
        "bits_per_dim",
        "per image, not per dimension",
        "return nll_nats / np.log(2.0) + np.log2(256.0 / value_range)",
        "per image",
    ),
    Wrong(
        "bits_per_dim",
        "the bin term in nats",
        "return nll_nats / (dims * np.log(2.0)) + np.log(256.0 / value_range)",
        "bin term is in nats",
    ),
    Wrong(
        "bits_per_dim",
        "the bin term forgotten",
        "return nll_nats / (dims * np.log(2.0))",
        "bin term is missing",
    ),
    Wrong(
        "bits_per_dim",
        "always +8",
        "return nll_nats / (dims * np.log(2.0)) + 8.0",
        "only for [0, 1]",
    ),
    Wrong(
        "bits_per_dim",
        "the bin term's sign flipped",
        "return nll_nats / (dims * np.log(2.0)) - np.log2(256.0 / value_range)",
        "wrong sign",
    ),
    Wrong(
        "precision_recall",
        "the point is its own nearest neighbour",
        _PRECISION_RECALL.format(**{**_PR_RIGHT, "column": "k - 1"}),
        "its own nearest neighbour",
    ),
    Wrong(
        "precision_recall",
        "precision and recall swapped",
        _PRECISION_RECALL.format(**{**_PR_RIGHT, "result": "float(recall), float(precision)"}),
        "swapped",
    ),
    Wrong(
        "precision_recall",
        "precision judged with the generated radii",
        _PRECISION_RECALL.format(**{**_PR_RIGHT, "precision_radii": "generated_radii[:, None]"}),
        "balls belong to the other set",
    ),
    Wrong(
        "precision_recall",
        "counts instead of shares",
        _PRECISION_RECALL.format(**{**_PR_RIGHT, "share": "sum"}),
        "those are counts",
    ),
    Wrong(
        "precision_recall",
        "strict < instead of <=",
        _PRECISION_RECALL.replace("<=", "<").format(**_PR_RIGHT),
        "surface",
    ),
    Wrong(
        "precision_recall",
        "a sample's share of balls: reduced over the wrong axis",
        _PRECISION_RECALL.replace(".any(axis=1)", ".any(axis=0)").format(**_PR_RIGHT),
        "share of the balls",
    ),
    Wrong(
        "precision_recall",
        "library call instead of own code",
        "from aigc_course import bench\nreturn bench.precision_recall(real, generated, k)",
        "calls precision_recall",
    ),
    Wrong(
        "precision_recall",
        "the bench's manifold_share",
        "from aigc_course.bench import manifold_share\n"
        "return manifold_share(generated, real, k), manifold_share(real, generated, k)",
        "calls manifold_share",
    ),
    Wrong(
        "read_the_bench", "best likelihood, best samples", 'answer_bench = "a"', "best likelihood"
    ),
    Wrong("read_the_bench", "precision means sharp", 'answer_bench = "c"', "sharpness"),
    Wrong("read_the_bench", "the GAN wins everything", 'answer_bench = "d"', "no likelihood"),
    Wrong(
        "truncation_experiment",
        "scale ignored",
        _SWEEP.format(pair="precision_recall(real, noise, k)"),
        "every row is the same",
        where="def truncation_sweep",
    ),
    Wrong(
        "truncation_experiment",
        "(recall, precision) order",
        _SWEEP.format(pair="precision_recall(real, scale * noise, k)[::-1]"),
        "precision first",
        where="def truncation_sweep",
    ),
    Wrong(
        "truncation_experiment",
        "noise shifted, not scaled",
        _SWEEP.format(pair="precision_recall(real, noise + scale, k)"),
        "multiplies the noise",
        where="def truncation_sweep",
    ),
    Wrong(
        "truncation_experiment",
        "k not passed on",
        _SWEEP.format(pair="precision_recall(real, scale * noise)"),
        "pass k on",
        where="def truncation_sweep",
    ),
    Wrong(
        "truncation_experiment",
        "the real set scaled",
        _SWEEP.format(pair="precision_recall(scale * real, noise, k)"),
        "opposite way",
        where="def truncation_sweep",
    ),
    Wrong(
        "truncation_experiment",
        "the samples drawn from the real set",
        _SWEEP.format(pair="precision_recall(real, scale * real, k)"),
        "not from the real set",
        where="def truncation_sweep",
    ),
    Wrong("truncation_experiment", "both rise", 'answer_truncation = "b"', "only precision rises"),
    Wrong(
        "truncation_experiment",
        "scale does not matter",
        'answer_truncation = "c"',
        "says otherwise",
    ),
    Wrong(
        "truncation_experiment",
        "shrinking lowers precision",
        'answer_truncation = "d"',
        "the other way round",
    ),
)
