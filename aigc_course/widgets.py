"""Interactive latent-space toys (ipywidgets 8): move sliders, watch the generator respond.

Both widgets are ordinary ``VBox`` containers that also expose their parts, so a test (or a
curious reader) can drive them without a browser: set ``slider.value`` and read ``.z`` (the
current latent vector) and ``.image.value`` (the PNG bytes on screen).
"""

from __future__ import annotations

import io

import ipywidgets as widgets
import numpy as np
from PIL import Image

from aigc_course.images import to_uint8
from aigc_course.inference import latent_dim_of, run_batched
from aigc_course.plotting import interpolate_at

_SCALE = 7  # 28 px -> 196 px, enlarged with nearest-neighbour so pixels stay crisp


def _png(generator, z: np.ndarray) -> bytes:
    img = to_uint8(run_batched(generator, z[None].astype(np.float32)))[0]
    big = Image.fromarray(img).resize((img.shape[1] * _SCALE, img.shape[0] * _SCALE), Image.NEAREST)
    buf = io.BytesIO()
    big.save(buf, format="PNG")
    return buf.getvalue()


def _seed_vector(seed: int, latent_dim: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(latent_dim).astype(np.float32)


class LatentExplorer(widgets.VBox):
    """Sliders that move a base latent vector along a few random orthonormal directions.

    ``z = base + sum_i sliders[i].value * directions[i]``. "New sample" draws a new base
    vector and resets the sliders. Attributes: ``sliders``, ``image``, ``directions``,
    ``base``, ``z``.
    """

    def __init__(self, generator, latent_dim: int | None = None, n_sliders: int = 4, seed: int = 0):
        latent_dim = latent_dim_of(generator, latent_dim)
        if not isinstance(n_sliders, int) or not 1 <= n_sliders <= latent_dim:
            raise ValueError(f"n_sliders must be an integer in 1..{latent_dim}, got {n_sliders!r}")
        self.generator, self.seed = generator, seed
        self._rng = np.random.default_rng(seed)
        self.base = self._rng.standard_normal(latent_dim).astype(np.float32)
        # QR of a Gaussian matrix: random directions, orthonormal so sliders do not overlap
        q, _ = np.linalg.qr(self._rng.standard_normal((latent_dim, n_sliders)))
        self.directions = q.T.astype(np.float32)
        self.sliders = [
            widgets.FloatSlider(
                value=0.0,
                min=-3.0,
                max=3.0,
                step=0.1,
                description=f"direction {i + 1}",
                continuous_update=True,
            )
            for i in range(n_sliders)
        ]
        self.image = widgets.Image(format="png")
        self.new_sample = widgets.Button(description="New sample", icon="refresh")
        for s in self.sliders:
            s.observe(self._update, names="value")
        self.new_sample.on_click(self._resample)
        self._update()
        super().__init__([widgets.HBox([self.image, widgets.VBox(self.sliders)]), self.new_sample])

    def __repr__(self) -> str:
        # What a static page shows instead of the live widget (Jupyter cuts it at 110 characters).
        return (
            f"LatentExplorer(latent_dim={len(self.base)}, {len(self.sliders)} directions, "
            f"seed={self.seed}): run in Jupyter to move the sliders"
        )

    @property
    def z(self) -> np.ndarray:
        """The latent vector currently shown."""
        weights = np.array([s.value for s in self.sliders], np.float32)
        return self.base + weights @ self.directions

    def _update(self, _change=None) -> None:
        self.image.value = _png(self.generator, self.z)

    def _resample(self, _button=None) -> None:
        self.base = self._rng.standard_normal(len(self.base)).astype(np.float32)
        for s in self.sliders:  # reset quietly, then draw once
            s.unobserve(self._update, names="value")
            s.value = 0.0
            s.observe(self._update, names="value")
        self._update()


class InterpolationSlider(widgets.VBox):
    """A slider ``t`` in [0, 1] that walks from seed A's latent vector to seed B's.

    Attributes: ``slider``, ``image``, ``z_a``, ``z_b``, ``z`` (the vector at ``t``).
    """

    def __init__(
        self,
        generator,
        seed_a: int = 0,
        seed_b: int = 1,
        latent_dim: int | None = None,
        spherical: bool = True,
    ):
        latent_dim = latent_dim_of(generator, latent_dim)
        self.generator, self.seeds = generator, (seed_a, seed_b)
        self.spherical = spherical
        self.z_a, self.z_b = _seed_vector(seed_a, latent_dim), _seed_vector(seed_b, latent_dim)
        self.slider = widgets.FloatSlider(
            value=0.0, min=0.0, max=1.0, step=0.05, description="t", continuous_update=True
        )
        self.image = widgets.Image(format="png")
        ends = [
            widgets.VBox(
                [
                    widgets.Label(f"seed {s}"),
                    widgets.Image(value=_png(generator, z), format="png", width=84),
                ]
            )
            for s, z in ((seed_a, self.z_a), (seed_b, self.z_b))
        ]
        self.slider.observe(self._update, names="value")
        self._update()
        super().__init__([widgets.HBox([ends[0], self.image, ends[1]]), self.slider])

    def __repr__(self) -> str:
        path = "great circle" if self.spherical else "straight line"
        return (
            f"InterpolationSlider(seed {self.seeds[0]} to seed {self.seeds[1]}, {path}, "
            f"t={self.slider.value:.2f}): run in Jupyter to move the slider"
        )

    @property
    def z(self) -> np.ndarray:
        """The latent vector at the slider's ``t``."""
        return interpolate_at(self.z_a, self.z_b, float(self.slider.value), self.spherical)

    def _update(self, _change=None) -> None:
        self.image.value = _png(self.generator, self.z)


def latent_explorer(
    generator, latent_dim: int | None = None, n_sliders: int = 4, seed: int = 0
) -> LatentExplorer:
    """Sliders on ``n_sliders`` random latent directions around a seeded base vector."""
    return LatentExplorer(generator, latent_dim, n_sliders, seed)


def interpolation_slider(
    generator,
    seed_a: int = 0,
    seed_b: int = 1,
    latent_dim: int | None = None,
    spherical: bool = True,
) -> InterpolationSlider:
    """A slider t in [0, 1] between the latent vectors drawn with ``seed_a`` and ``seed_b``
    (along the great circle, or a straight line with ``spherical=False``)."""
    return InterpolationSlider(generator, seed_a, seed_b, latent_dim, spherical)


class GuidanceExplorer(widgets.VBox):
    """A class-conditional diffusion model steered by two sliders: the class and the
    classifier-free guidance scale. Shows ``n`` images drawn from the same noise (``seed``)
    with ``steps`` DDIM steps. Attributes: ``label``, ``guidance``, ``image``, ``images``."""

    def __init__(self, model, class_names=None, n: int = 8, steps: int = 20, seed: int = 0):
        from aigc_course.families.diffusion import FAMILY, denoiser_of

        self.denoiser = denoiser_of(model)
        if not self.denoiser.num_classes:
            raise ValueError("guidance needs a class-conditional model (trained with labels)")
        self.family, self.n, self.steps, self.seed = FAMILY, n, steps, seed
        names = list(class_names or range(self.denoiser.num_classes))
        self.label = widgets.Dropdown(options=[(str(c), i) for i, c in enumerate(names)],
                                      value=0, description="class")  # fmt: skip
        self.guidance = widgets.FloatSlider(value=1.0, min=0.0, max=6.0, step=0.5,
                                            description="guidance", continuous_update=False)  # fmt: skip
        self.image = widgets.Image(format="png")
        for control in (self.label, self.guidance):
            control.observe(self._update, names="value")
        self._update()
        super().__init__([widgets.HBox([self.label, self.guidance]), self.image])

    def _update(self, _change=None) -> None:
        from aigc_course.plotting import image_grid

        self.images = self.family.sample(
            self.denoiser, self.n, self.seed, steps=self.steps,
            label=int(self.label.value), guidance=float(self.guidance.value),
        )  # fmt: skip
        grid = image_grid(self.images, ncols=self.n)
        big = Image.fromarray(grid).resize((grid.shape[1] * 3, grid.shape[0] * 3), Image.NEAREST)
        buf = io.BytesIO()
        big.save(buf, format="PNG")
        self.image.value = buf.getvalue()


def guidance_explorer(model, class_names=None, n: int = 8, steps: int = 20, seed: int = 0):
    """A class menu and a guidance-scale slider on a class-conditional diffusion model."""
    return GuidanceExplorer(model, class_names, n, steps, seed)
