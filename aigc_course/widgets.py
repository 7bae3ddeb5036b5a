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

from aigc_course.plotting import _generate, _latent_dim, _to_uint8_images, interpolate_at

_SCALE = 7  # 28 px -> 196 px, enlarged with nearest-neighbour so pixels stay crisp


def _png(generator, z: np.ndarray) -> bytes:
    img = _to_uint8_images(_generate(generator, z[None].astype(np.float32)))[0]
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
        latent_dim = _latent_dim(generator, latent_dim)
        if not isinstance(n_sliders, int) or not 1 <= n_sliders <= latent_dim:
            raise ValueError(f"n_sliders must be an integer in 1..{latent_dim}, got {n_sliders!r}")
        self.generator = generator
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
        latent_dim = _latent_dim(generator, latent_dim)
        self.generator = generator
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
