"""The latent space: encode / decode arrays, samplers, slider ranges, interpolation, manifold grids."""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from dae_core import store
from dae_core.errors import DaeError

if TYPE_CHECKING:
    import torch

SAMPLERS = ("uniform01", "box", "gaussian", "gmm", "cluster:K")
DEFAULT_SAMPLER = "gmm"  # the app's and the command line's: it decodes to recognisable digits most often
# A finer mixture fits the codes' curved clusters better, so more samples decode to digits the
# classifier recognises, with the digits as evenly spread (benchmarks/bench_samples.py measures it;
# the record is in docs/speed.md, "Settings chosen by a measurement").
GMM_COMPONENTS = 40
CLUSTER_COMPONENTS = 10  # cluster:K samples inside one of 10 digit-like components
GMM_FIT_MAX = 10_000  # codes used to fit a mixture


# PyTorch is imported by the functions that run a model, not by this module: the samplers and
# the codes' cache serve processes that never load one (an analysis job on cached codes).


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def encode(model, images: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """uint8 (N, 28, 28) or float (N, 1, 28, 28) images -> codes z, float32 (N, d)."""
    import torch

    from dae_core.data import to_float

    model.eval()
    dev = _device(model)
    with torch.inference_mode():
        out = [model.encode(to_float(images[i: i + batch_size]).to(dev)).float().cpu()
               for i in range(0, len(images), batch_size)]
        return torch.cat(out).numpy() if out else np.zeros((0, model.latent_dim), np.float32)


def decode(model, z: np.ndarray | torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """Codes (N, d) -> images, float32 (N, 28, 28) in [0, 1]."""
    import torch

    model.eval()
    z = torch.as_tensor(np.asarray(z, dtype=np.float32))
    if z.ndim != 2 or z.shape[1] != model.latent_dim:
        raise DaeError(f"codes must have shape (N, {model.latent_dim}), got {tuple(z.shape)}")
    dev = _device(model)
    with torch.inference_mode():
        out = [model.decode(z[i: i + batch_size].to(dev)).cpu() for i in range(0, len(z), batch_size)]
        return torch.cat(out)[:, 0].numpy() if out else np.zeros((0, 28, 28), np.float32)


def reconstruct(model, x: torch.Tensor) -> np.ndarray:
    """Float images (N, 1, 28, 28) -> model(x), float32 (N, 28, 28)."""
    import torch

    model.eval()
    with torch.inference_mode():
        return model(x.float().to(_device(model))).cpu()[:, 0].numpy()


@dataclass(frozen=True)
class Mixture:
    """A fitted Gaussian mixture as sample() reads it (scikit-learn's attribute names)."""

    weights_: np.ndarray  # (k,)
    means_: np.ndarray  # (k, d)
    covariances_: np.ndarray  # (k, d, d)


class LatentSampler:
    """Draws codes to decode; fit() on training codes first for every kind but uniform01.

    Kinds: uniform01 (the reference: U[0,1]^d), box (uniform over the codes' 1-99th percentile
    box), gaussian (full covariance), gmm (a 40-component Gaussian mixture), cluster:K (inside
    component K of a 10-component mixture).

    For a split model, pass `class_dims`, the coordinates of its class part: gmm and cluster:K
    then have one Gaussian per class that part names (its share, mean and covariance), so every
    draw is one digit and cluster:K is the digit dial. A mixture fitted to the whole split code
    splits along the style numbers, which spread far more than the probabilities, so its
    components straddle digits (docs/recipe.md).
    """

    def __init__(self, kind: str = "gmm", n_components: int | None = None, seed: int = 0,
                 class_dims: list[int] | None = None):
        base = kind.split(":")[0]
        if base not in ("uniform01", "box", "gaussian", "gmm", "cluster"):
            raise DaeError(f"unknown sampler {kind!r}; choose from {', '.join(SAMPLERS)}")
        self.class_dims = list(class_dims) if class_dims and base in ("gmm", "cluster") else None
        if self.class_dims:
            n_components = len(self.class_dims)
        elif n_components is None:
            n_components = GMM_COMPONENTS if base == "gmm" else CLUSTER_COMPONENTS
        self.kind, self.n_components, self.seed = kind, n_components, seed
        self.component = None
        if base == "cluster":
            try:
                self.component = int(kind.split(":", 1)[1])
            except (IndexError, ValueError):
                raise DaeError(f"sampler {kind!r} needs a cluster number, e.g. cluster:3") from None
            if not 0 <= self.component < n_components:
                raise DaeError(f"cluster must be 0..{n_components - 1}, got {self.component}")
        self.d = None

    def fit(self, z: np.ndarray) -> "LatentSampler":
        """Fit on codes (N, d)."""
        z = np.asarray(z, dtype=np.float64)
        self.d = z.shape[1]
        self.low, self.high = np.percentile(z, 1, axis=0), np.percentile(z, 99, axis=0)
        self.mean, self.cov = z.mean(0), np.cov(z, rowvar=False).reshape(self.d, self.d)
        if self.class_dims:
            if max(self.class_dims) >= self.d:
                raise DaeError(f"class coordinates {self.class_dims} do not fit codes of {self.d} numbers")
            self.gmm = _group_mixture(z, z[:, self.class_dims].argmax(axis=1), self.n_components)
        elif self.kind.startswith(("gmm", "cluster")):
            from sklearn.mixture import GaussianMixture

            # A subsample fits the mixture in a fraction of the time, at the same sample quality
            # (docs/speed.md, "Settings chosen by a measurement").
            rows = np.random.default_rng(self.seed).permutation(len(z))[:GMM_FIT_MAX]
            self.gmm = GaussianMixture(self.n_components, covariance_type="full",
                                       random_state=self.seed).fit(z[rows])
        return self

    def arrays(self) -> dict[str, np.ndarray]:
        """What sample() needs of this fitted sampler, as arrays (the disk cache keeps them)."""
        out = {"low": self.low, "high": self.high, "mean": self.mean, "cov": self.cov}
        if hasattr(self, "gmm"):
            out |= {"weights": self.gmm.weights_, "means": self.gmm.means_,
                    "covariances": self.gmm.covariances_}
        return out

    def fitted_as(self, a: dict) -> "LatentSampler | None":
        """This sampler, fitted as arrays() of one fitted the same way say; None for arrays that do
        not fit its kind and size (a damaged or foreign entry: fit it instead)."""
        try:
            d = len(a["mean"])
            shapes = {"low": (d,), "high": (d,), "mean": (d,), "cov": (d, d)}
            if self.kind.startswith(("gmm", "cluster")):
                k = self.n_components
                shapes |= {"weights": (k,), "means": (k, d), "covariances": (k, d, d)}
            if not all(np.shape(a[n]) == shape and np.isfinite(a[n]).all() for n, shape in shapes.items()):
                return None
        except (KeyError, TypeError, ValueError):
            return None
        self.low, self.high, self.mean, self.cov = (np.asarray(a[n], np.float64)
                                                    for n in ("low", "high", "mean", "cov"))
        self.d = d
        if "weights" in shapes:
            weights = np.asarray(a["weights"], np.float64)
            if (weights < 0).any() or not np.isclose(weights.sum(), 1.0):
                return None
            self.gmm = Mixture(weights, np.asarray(a["means"], np.float64),
                               np.asarray(a["covariances"], np.float64))
        return self

    def restrict(self, component: int) -> "LatentSampler":
        """A cluster:K sampler sharing this fitted mixture (no refit)."""
        out = LatentSampler(f"cluster:{component}", self.n_components, self.seed, self.class_dims)
        out.__dict__.update({k: v for k, v in self.__dict__.items() if k not in ("kind", "component")})
        return out

    def sample(self, n: int, seed: int, d: int | None = None) -> np.ndarray:
        """(n, d) float32 codes; the same seed gives the same codes."""
        rng = np.random.default_rng(seed)
        if self.kind == "uniform01":
            return rng.random((n, d or self.d)).astype(np.float32)
        if self.d is None:
            raise DaeError(f"sampler {self.kind!r} must be fit on training codes first")
        if self.kind == "box":
            z = rng.uniform(self.low, self.high, size=(n, self.d))
        elif self.kind == "gaussian":
            z = rng.multivariate_normal(self.mean, self.cov, size=n, method="cholesky")
        else:
            if self.component is not None and self.gmm.weights_[self.component] == 0:
                raise DaeError(f"no training code falls in component {self.component}: "
                               "choose another")
            k = (rng.choice(self.n_components, size=n, p=self.gmm.weights_)
                 if self.component is None else np.full(n, self.component))
            z = np.stack([rng.multivariate_normal(self.gmm.means_[c], self.gmm.covariances_[c])
                          for c in k]) if n else np.zeros((0, self.d))
        return z.astype(np.float32)


def _stored_sampler(a: dict, key: dict) -> LatentSampler | None:
    kind = key["sampler"] + (":0" if key["sampler"] == "cluster" else "")
    return LatentSampler(kind, key["components"], key["seed"], key.get("class_dims")).fitted_as(a)


# A fitted sampler in the result cache: its arrays, a few KB.
SAMPLER = store.Kind("sampler", LatentSampler.arrays, _stored_sampler)


def sampler_params(s: LatentSampler) -> dict:
    """What a fitted sampler depends on, besides the model: its kind, size, seed and fit sample
    (and a split model's class coordinates, which group its mixtures)."""
    params = {"sampler": s.kind.split(":")[0], "components": int(s.n_components), "seed": int(s.seed),
              "fit_max": GMM_FIT_MAX}
    return params | ({"class_dims": [int(i) for i in s.class_dims]} if s.class_dims else {})


def class_dims_of(model) -> list[int] | None:
    """The coordinates of a split model's class part (split.SplitAutoencoder); None for others."""
    return getattr(model, "class_dims", None)


def fitted_sampler(kind: str, model: str, z: Callable[[], np.ndarray], hold=nullcontext,
                   class_dims: list[int] | None = None) -> LatentSampler:
    """The sampler `kind` fitted to the training codes z() of the model (its fingerprint): from
    the result cache, else fitted (inside the context hold()) and kept. Every cluster:K shares the
    one fitted mixture; uniform01 needs no fit. `class_dims`: a split model's class part."""
    s = LatentSampler(kind, class_dims=class_dims)
    if kind == "uniform01":
        return s
    fitted = s
    if s.component is not None:  # a split model's gmm is its cluster:K mixture: one fit for both
        fitted = LatentSampler("gmm" if s.class_dims else "cluster:0", class_dims=class_dims)

    def fit() -> LatentSampler:
        codes = z()
        with hold():
            return fitted.fit(codes)

    found = store.get_or_compute(SAMPLER, model, sampler_params(fitted), fit)
    return found if s.component is None else found.restrict(s.component)


def _group_mixture(z: np.ndarray, groups: np.ndarray, k: int) -> Mixture:
    """One Gaussian per group 0..k-1 of the codes z (N, d). A group of fewer than 2 codes (a class
    a weak split model never names) gets weight 0, and the Gaussian of all the codes."""
    counts = np.bincount(groups, minlength=k)[:k]
    if counts.max() < 2:
        raise DaeError(f"a mixture of {k} groups needs one group of at least 2 codes; got {counts.tolist()}")
    reg = 1e-6 * np.eye(z.shape[1])  # scikit-learn's reg_covar, for groups with no spread in a direction
    members = [z[groups == c] if counts[c] >= 2 else z for c in range(k)]
    weights = np.where(counts >= 2, counts, 0) / counts[counts >= 2].sum()
    return Mixture(weights, np.stack([m.mean(axis=0) for m in members]),
                   np.stack([np.cov(m, rowvar=False) + reg for m in members]))


def slider_ranges(z: np.ndarray, low_pct: float = 1, high_pct: float = 99):
    """Per-dimension (low, high, median) of the codes, for sliders: three float arrays (d,)."""
    low, med, high = np.percentile(z, [low_pct, 50, high_pct], axis=0)
    return low.astype(np.float32), high.astype(np.float32), med.astype(np.float32)


def interpolate(z_a: np.ndarray, z_b: np.ndarray, steps: int) -> np.ndarray:
    """Straight line from z_a to z_b, both ends included: (steps, d)."""
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return (1 - t) * np.asarray(z_a, np.float32)[None] + t * np.asarray(z_b, np.float32)[None]


def manifold_grid(base: np.ndarray, dims: tuple[int, int], low, high, n: int) -> np.ndarray:
    """An n x n sweep of two dimensions over [low, high], the others held at `base`: (n*n, d).

    Row r, column c varies dims[0] along c and dims[1] along r (top row = high values).
    """
    i, j = dims
    if i == j:
        raise DaeError("choose two different dimensions for the manifold grid")
    z = np.repeat(np.asarray(base, np.float32)[None], n * n, axis=0)
    xs = np.linspace(low[i], high[i], n, dtype=np.float32)
    ys = np.linspace(high[j], low[j], n, dtype=np.float32)
    z[:, i] = np.tile(xs, n)
    z[:, j] = np.repeat(ys, n)
    return z
