"""The Cayley-Menger band sweep (seed 003): 4-simplex volume CV against dimension, random vs real.

Random unit vectors in d dimensions give 4-simplex volumes whose coefficient of variation shrinks as d grows
(concentration of measure); over repeated random draws they form a narrow band. Real embeddings brought
down to the same d sit above the band when their points crowd onto low-dimensional patches.
"""

import numpy as np
from threadpoolctl import threadpool_limits

from ..errors import SynthError
from ..io.arrays import unit_rows
from ..metrics.statistics import cm_volume_cv, truncate_dims


def pca_project(X, dims):
    """Unit rows of X expressed in their top ``dims`` principal directions (of the centred rows), re-normalized.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    dims : int

    Returns
    -------
    ndarray of shape (n_samples, dims), float32, unit rows
    """
    U = unit_rows(X, min_rows=2)
    if not 2 <= dims <= U.shape[1]:
        raise SynthError(f"dims={dims} must be between 2 and the {U.shape[1]} dimensions of the data")
    with threadpool_limits(limits=1, user_api="blas"):  # small matrix: threads only synchronize
        _, V = np.linalg.eigh(np.cov(U, rowvar=False, dtype=np.float64))
    top = V[:, ::-1][:, :dims]
    # project the uncentred rows so the common direction (the cone) stays in the picture
    return unit_rows((U.astype(np.float64) @ top).astype(np.float32))


def cm_sweep(X, dims=None, n=2000, repeats=5, n_simplices=2000, random_state=0):
    """Volume CV of random and of real points against dimension.

    For each d: ``repeats`` sets of ``n`` uniform unit vectors in d dimensions give the random band
    (min, mean, max of their CVs); the real set (``n`` rows drawn with the seed) is brought to d
    dimensions by PCA projection (:func:`pca_project`) and by Matryoshka truncation (first d coordinates,
    :func:`synth.metrics.statistics.truncate_dims`), and its CV measured the same way.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The real embeddings.
    dims : list of int, optional
        Default: 4, 8, 16, ... up to and including n_features.
    n : int, default=2000
    repeats : int, default=5
    n_simplices : int, default=2000
    random_state : int, default=0

    Returns
    -------
    dict
        ``n``, ``repeats``, ``n_simplices``, ``rows``: per d ``dims``, ``random_min``, ``random_mean``,
        ``random_max``, ``real_pca``, ``real_truncated``.
    """
    U = unit_rows(X, min_rows=5)
    D = U.shape[1]
    if dims is None:
        dims = sorted({*(2 ** np.arange(2, int(np.log2(D)) + 1)).tolist(), D})
    dims = [int(d) for d in dims]
    if any(not 4 <= d <= D for d in dims):
        raise SynthError(f"dimensions must lie between 4 and {D}, got {dims}")
    rng = np.random.default_rng(random_state)
    n = min(n, len(U))
    real = U[rng.choice(len(U), size=n, replace=False)]
    rows = []
    for d in dims:
        seeds = np.random.SeedSequence([random_state, d]).spawn(repeats)
        cvs = [cm_volume_cv(np.random.default_rng(s).standard_normal((n, d)), n_simplices, random_state)
               for s in seeds]
        rows.append({"dims": d, "random_min": float(min(cvs)), "random_mean": float(np.mean(cvs)),
                     "random_max": float(max(cvs)),
                     "real_pca": cm_volume_cv(pca_project(real, d), n_simplices, random_state),
                     "real_truncated": cm_volume_cv(truncate_dims(real, d), n_simplices, random_state)})
    return {"n": n, "repeats": repeats, "n_simplices": n_simplices, "rows": rows}


def plot_cm_sweep(result, path):
    """The random band and the real curves against dimension (log x axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io.formats import atomic_path

    d = [r["dims"] for r in result["rows"]]
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.fill_between(d, [r["random_min"] for r in result["rows"]], [r["random_max"] for r in result["rows"]],
                    color="#cccccc", label=f"random band ({result['repeats']} draws)")
    ax.plot(d, [r["random_mean"] for r in result["rows"]], c="gray", lw=1)
    ax.plot(d, [r["real_pca"] for r in result["rows"]], marker="o", ms=3, label="real, top-d PCA")
    ax.plot(d, [r["real_truncated"] for r in result["rows"]], marker="s", ms=3, label="real, first d dims")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("dimension d")
    ax.set_ylabel("CV of 4-simplex volumes")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
