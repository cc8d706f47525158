"""The one cluster bootstrap: resample whole units (trials, or a seed's pair of sessions).

Every interval that resamples does so through `cluster_resample`, so a trial's steps stay
together (they are not independent) and every estimator draws its resamples the same way
from its seed. The Gaussian multiplier bootstrap of the curves' sup-t band
(`metrics.curves.simultaneous_band`) perturbs units rather than resampling them and draws
its own multipliers.
"""

from __future__ import annotations

import numpy as np


def cluster_indices(n_units: int, *, n_boot: int, seed: int = 0) -> np.ndarray:
    """`n_boot` x `n_units` indices: each row draws `n_units` units with replacement."""
    if n_units < 1:
        raise ValueError(f"a bootstrap needs at least one unit, not {n_units}")
    return np.random.default_rng(seed).integers(0, n_units, (n_boot, n_units))


def cluster_resample(*columns: np.ndarray, n_boot: int, seed: int = 0
                     ) -> tuple[np.ndarray, ...]:
    """Resamples of per-unit `columns` (each of length n), drawn with one set of indices so
    a unit's values stay together: each result is `n_boot` x n."""
    n = len(columns[0])
    if any(len(c) != n for c in columns):
        raise ValueError("every column needs one value per unit")
    idx = cluster_indices(n, n_boot=n_boot, seed=seed)
    return tuple(np.asarray(c)[idx] for c in columns)
