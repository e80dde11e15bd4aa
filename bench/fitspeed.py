"""Fit time and model size at scale: the default patch model against the seed's plain local PCA.

No real 1024-d embeddings ship with the project, so the data are synthetic: unit vectors around 300 random
centres with a decaying noise spectrum. Fit time depends on n, d and the configuration (k-means, per-patch
SVDs, the noise-scale calibration) and, for the default, on whether its copy guard backs off on these data
(``tried`` lists the patch counts fitted); it is a measure of cost, not of fidelity.
"""

import time

import numpy as np

from synth.io.artifact import model_bytes
from synth.models.fitting import make_model
from synth.progress import planned, stage

CONFIGS = {"default": ("patch", {}), "default-no-guard": ("patch", {"copy_guard": False}),
           "seed": ("patch", {"n_patches": 120, "rank": 48, "noise_scale": 1.0})}
# seconds of one fit at 100,000 x 1024 and of making the data (docs/fidelity/fit-speed.md: quiet, 2 cores, 219 s in
# all with --repeats 3), for the estimate of the time left (synth.progress); a configuration not listed counts as
# the default
FIT_SECONDS = {"default": 51.5, "default-no-guard": 11.8, "seed": 7.9}
DATA_SECONDS = 4.0


def clustered(n, d, centers=300, random_state=0):
    """Unit vectors in ``centers`` anisotropic clusters, float32, shape (n, d)."""
    rng = np.random.default_rng(random_state)
    C = rng.standard_normal((centers, d)).astype(np.float32)
    spectrum = np.geomspace(1.0, 0.05, d).astype(np.float32)
    X = C[rng.integers(centers, size=n)]
    X += rng.standard_normal((n, d), dtype=np.float32) * spectrum
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X


def fit_speed_plan(n=100_000, d=1024, repeats=1, configs=None, **_):
    """The steps of :func:`fit_speed` and their seconds (:mod:`synth.progress`), in proportion to n x d."""
    scale = n * d / (100_000 * 1024)
    return [("data", DATA_SECONDS * scale)] + [((name, i), FIT_SECONDS.get(name, FIT_SECONDS["default"]) * scale)
                                               for name in (configs or CONFIGS) for i in range(repeats)]


@planned(fit_speed_plan)
def fit_speed(n=100_000, d=1024, repeats=1, configs=None, random_state=0):
    """Median fit seconds and model bytes of each configuration on the same data.

    Returns
    -------
    dict
        ``n``, ``d``, ``repeats``, ``threads`` and ``configs``: per name ``seconds`` (median),
        ``all_seconds``, ``model_bytes``, ``n_patches``, ``noise_scale`` and ``tried`` (the auto patch
        counts fitted before one passed the copy check; empty for a fixed count).
    """
    import faiss
    from threadpoolctl import threadpool_info

    stage(f"making {n:,} x {d} clustered unit vectors")
    X = clustered(n, d, random_state=random_state)
    out = {}
    for name, (kind, params) in (configs or CONFIGS).items():
        times = []
        for i in range(repeats):
            stage(f"fitting {name}, run {i + 1} of {repeats}", step=(name, i))
            t0 = time.perf_counter()
            model = make_model(kind, random_state=random_state, **params).fit(X)
            times.append(time.perf_counter() - t0)
        out[name] = {"seconds": float(np.median(times)), "all_seconds": [round(t, 2) for t in times],
                     "model_bytes": len(model_bytes(model)), "n_patches": int(model.n_patches_),
                     "noise_scale": float(model.noise_scale_),
                     "tried": [t["n_patches"] for t in getattr(model, "copy_check_", None) or []]}
    blas = max((p.get("num_threads", 1) for p in threadpool_info()), default=1)
    return {"n": n, "d": d, "repeats": repeats, "threads": {"faiss": faiss.omp_get_max_threads(), "blas": blas},
            "configs": out}


def markdown(result):
    lines = [f"**fit time, {result['n']:,} x {result['d']} synthetic unit vectors** (median of {result['repeats']}; "
             f"faiss threads {result['threads']['faiss']}, BLAS threads {result['threads']['blas']})", "",
             "| config | patches | counts fitted (auto) | noise scale | fit s | model MB |", "|---|---|---|---|---|---|"]
    for name, r in result["configs"].items():
        tried = ", ".join(str(t) for t in r["tried"]) or "-"
        lines.append(f"| {name} | {r['n_patches']} | {tried} | {r['noise_scale']:.2f} | {r['seconds']:.1f} | "
                     f"{r['model_bytes'] / 1e6:.2f} |")
    c = result["configs"]
    if "default" in c and "seed" in c:
        lines += ["", f"default / seed fit time: {c['default']['seconds'] / c['seed']['seconds']:.2f}x"]
    return "\n".join(lines) + "\n"
