"""The main job on the bundled real sample: fit patch, fog and random; score each against held-out real."""

import time
from pathlib import Path

import numpy as np

from .bundled import load_minilm_wordnet
from .io.formats import atomic_path, check_folder, write_json
from .metrics.twosample import score, score_plan
from .models import Fog, PatchPCA, RandomSphere
from .plot import plot_clouds
from .progress import planned, stage

N_TRAIN = 10_000
SAMPLE_SECONDS, WRITE_SECONDS = 0.1, 10.0  # sampling n = 5,000 rows; the files and the map (synth demo, load 4)


def demo_plan(**_):
    """The steps of :func:`run_demo` and their seconds (:mod:`synth.progress`): each model's fit, sample and
    score, then the files; measured by ``synth demo`` at its defaults (2 cores, load 4)."""
    from .models.fitting import fit_seconds

    scoring = sum(w for _, w in score_plan(train=True))
    steps = []
    for model in (PatchPCA(), Fog(), RandomSphere()):
        steps += [(("fit", model.kind), fit_seconds(model)), (("sample", model.kind), SAMPLE_SECONDS),
                  (("score", model.kind), scoring)]
    return steps + [("write", WRITE_SECONDS)]


@planned(demo_plan)
def run_demo(out_dir="synth-demo", n=5000, n_train=N_TRAIN, random_state=0, verbose=0, force=False):
    """Fit the three models on ``n_train`` bundled points and score each against the held-out rest.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Receives ``demo.json``, ``demo.md`` and ``clouds.png`` (created if missing).
    n : int, default=5000
        Points per side in the two-sample test, the statistics and the memorization check.
    n_train : int, default=10000
    random_state : int, default=0
    verbose : int, default=0
    force : bool, default=False
        Write into ``out_dir`` even if it exists and holds files; otherwise that is refused before any work.

    Returns
    -------
    dict
        ``n``, ``k``, ``n_train``, ``n_heldout``, ``ceiling`` ({c2st, c2st_real, c2st_fake}), and per
        model (``real`` first, then ``patch``, ``fog``, ``random``) its statistics and, for the models,
        ``c2st``, ``c2st_real``, ``c2st_fake``, ``p_value``, ``dcr``, ``fit_seconds``.
    """
    from .report import format_demo_markdown

    check_folder(out_dir, force)
    stage("reading the bundled sample")
    X = load_minilm_wordnet()
    order = np.random.default_rng(random_state).permutation(len(X))
    train, heldout = X[order[:n_train]], X[order[n_train:]]
    models = {"patch": PatchPCA(random_state=random_state, verbose=verbose),
              "fog": Fog(random_state=random_state, verbose=verbose),
              "random": RandomSphere()}
    result = {"data": "all-MiniLM-L6-v2 over WordNet glosses (bundled)", "n": None, "k": 10,
              "n_train": len(train), "n_heldout": len(heldout), "rows": {}}
    samples = {}
    for i, (name, model) in enumerate(models.items()):
        stage(f"fitting {name} on {len(train):,} rows", step=("fit", name))
        t0 = time.perf_counter()
        model.fit(train)
        fit_seconds = time.perf_counter() - t0
        stage(f"sampling {n:,} rows from {name}", step=("sample", name))
        samples[name] = model.sample(n, random_state=random_state + 1 + i)
        stage(f"scoring {name} against held-out real", step=("score", name))
        s = score(heldout, samples[name], train=train, n=n, k=10, random_state=random_state)
        result["n"] = s["n"]
        result["rows"].setdefault("real", {"stats": s["stats"]["real"]})
        result["ceiling"] = {"c2st": s["ceiling"], "c2st_real": s["ceiling_real"],
                             "c2st_fake": s["ceiling_fake"], "n": s["ceiling_n"]}
        result["rows"][name] = {"stats": s["stats"]["fake"], "c2st": s["c2st"], "c2st_real": s["c2st_real"],
                                "c2st_fake": s["c2st_fake"], "p_value": s["p_value"], "dcr": s["dcr"],
                                "fit_seconds": round(fit_seconds, 2)}
    result["rows"]["fog"]["knobs"] = models["fog"].knobs_
    result["rows"]["patch"]["n_patches"] = models["patch"].n_patches_
    stage(f"writing demo.json, demo.md and clouds.png to {out_dir}", step="write")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "demo.json", result)
    with atomic_path(out / "demo.md") as tmp:
        tmp.write_text(format_demo_markdown(result) + "\n")
    plot_clouds(heldout, samples, out / "clouds.png", random_state=random_state,
                title="bundled MiniLM-WordNet: held-out real vs three generators (PCA map of real)")
    return result
