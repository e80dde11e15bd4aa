"""Membership inference against a fitted model: can someone holding the model file tell its training rows
from other real rows?

An attacker holds the model (or a corpus sampled from it) and candidate rows, and scores each candidate;
a high score says "this row was in the training set". The attacks here are the ones REFERENCE.md lists:

- ``subspace_residual`` (patch models): the share of a row's offset from its nearest patch mean that lies
  *outside* the patch's principal directions. A patch's directions are fitted to its own rows, so its
  training rows sit close to that subspace and new rows do not.
- ``likelihood`` (patch models): the row's log-density under the mixture of the patches' Gaussians
  (the sampling covariance ``V diag(l - s2) V^T + a^2 s2 I`` of each of the row's nearest patches).
- ``nearest_patch_mean`` (patch models): the cosine to the nearest patch mean.
- ``nearest_fake`` (any model): the cosine to the nearest of ``n_fakes`` sampled rows, the attack on a
  published corpus without its model file.
- ``shadow_lira`` (patch models, with ``shadows`` > 0): the offline likelihood-ratio attack of Carlini et al.
  ("Membership Inference Attacks From First Principles", IEEE S&P 2022) with shadow models. The attacker fits
  ``shadows`` models of the target's kind and parameters (its patch count scaled to the shadow's rows, its noise
  scale and bridge amount) on real rows of its own, drawn from the held-out rows that are not scored (so no
  candidate is in any shadow's training set), and scores every candidate by how far the target model's three
  patch statistics above sit from the same statistics under the shadow models, per candidate: the sum over the
  three of ``(s_target(x) - mean_shadow(x)) / sd``, ``sd`` the statistic's shadow spread pooled over candidates
  (the paper's fixed variance, for few shadows). A row that is merely typical scores high under every model and
  cancels out; what is left is what fitting on the row added.

Each attack is scored on ``n`` training rows (members) and ``n`` held-out rows (non-members): ROC AUC
(0.5 = no leak) and the true-positive rate at a 1% false-positive rate (0.01 = no leak), with 95%
bootstrap intervals. The privacy bar (:data:`MAX_AUC`, :data:`MAX_TPR`) is the one the project set itself
(issue 18): every attack at AUC <= 0.55 and TPR <= 0.02 at 1% FPR.
"""

import faiss
import numpy as np

from ..progress import planned, stage

MAX_AUC = 0.55  # an attack above this ROC AUC counts as a membership leak
MAX_TPR = 0.02  # ... or above this true-positive rate at 1% false positives
TARGET_FPR = 0.01
LIKELIHOOD_TOP = 8  # patches scored per row by the likelihood attack (the rest add nothing measurable)
N_BOOT = 200


def _unit64(X):
    X = np.asarray(X, dtype=np.float64)
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-300)


def _nearest_patches(model, X, top):
    C = model.means_ / np.maximum(np.linalg.norm(model.means_, axis=1, keepdims=True), 1e-30)
    sims, idx = faiss.knn(np.ascontiguousarray(X, dtype=np.float32), np.ascontiguousarray(C, dtype=np.float32),
                          min(top, len(C)), metric=faiss.METRIC_INNER_PRODUCT)
    return sims, idx


def _shared(model):
    """The model's shared directions (s, d) float64 and per-patch variances along them (K, s), or None."""
    G = getattr(model, "shared_components_", None)
    return None if G is None else (np.asarray(G, dtype=np.float64), np.asarray(model.shared_variances_, np.float64))


def subspace_residual(model, X):
    """Minus the share of each row's offset from its nearest patch mean that lies outside the patch's
    directions, its own and any shared ones (higher = closer to the subspace = more likely a training row)."""
    X = _unit64(X)
    p = _nearest_patches(model, X, 1)[1][:, 0]
    D = X - model.means_[p].astype(np.float64)
    proj = np.einsum("nd,nrd->nr", D, model.components_[p].astype(np.float64))
    inside = np.einsum("nr,nr->n", proj, proj)
    shared = _shared(model)
    if shared is not None:
        S = D @ shared[0].T
        inside = inside + np.einsum("ns,ns->n", S, S)
    total = np.einsum("nd,nd->n", D, D)
    return -(total - inside) / np.maximum(total, 1e-300)


def likelihood(model, X, top=LIKELIHOOD_TOP):
    """Log-density of each row under the model's Gaussians (its ``top`` nearest patches), before the
    projection onto the sphere."""
    X = _unit64(X)
    idx = _nearest_patches(model, X, top)[1]
    V = model.components_
    lam_all = np.asarray(model.variances_, dtype=np.float64)
    s2_all = np.asarray(model.noise_variance_, dtype=np.float64) * model.noise_scale_ ** 2
    floor = 1e-6 * (np.median(s2_all[s2_all > 0]) if np.any(s2_all > 0) else 1.0)
    s2_all = np.maximum(s2_all, floor)  # a patch with no residual (as many directions as rows) still scores
    d = X.shape[1]
    shared = _shared(model)
    logp = np.empty(idx.shape)
    for j in range(idx.shape[1]):
        p = idx[:, j]
        D = X - model.means_[p].astype(np.float64)
        proj = np.einsum("nd,nrd->nr", D, V[p].astype(np.float64))
        s2 = s2_all[p]
        lam = np.where(lam_all[p] > 0, np.maximum(lam_all[p] - np.asarray(model.noise_variance_)[p, None], 0)
                       + s2[:, None], s2[:, None])
        if shared is not None:  # the shared directions, with the patch's variances along them
            G, sv = shared
            proj = np.concatenate([D @ G.T, proj], axis=1)
            lam = np.concatenate([np.maximum(sv[p] - np.asarray(model.noise_variance_)[p, None], 0) + s2[:, None],
                                  lam], axis=1)
        resid = np.einsum("nd,nd->n", D, D) - np.einsum("nr,nr->n", proj, proj)
        quad = np.einsum("nr,nr->n", proj, proj / lam) + np.maximum(resid, 0) / s2
        logdet = np.log(lam).sum(axis=1) + (d - proj.shape[1]) * np.log(s2)
        logp[:, j] = np.log(model.weights_[p]) - 0.5 * (quad + logdet)
    top_logp = logp.max(axis=1, keepdims=True)
    return top_logp[:, 0] + np.log(np.exp(logp - top_logp).sum(axis=1))


def nearest_patch_mean(model, X):
    """Cosine of each row to its nearest patch mean (direction)."""
    return _nearest_patches(model, _unit64(X), 1)[0][:, 0].astype(np.float64)


def nearest_fake(fakes, X):
    """Cosine of each row to its nearest row of ``fakes``."""
    index = faiss.IndexFlatIP(fakes.shape[1])
    index.add(np.ascontiguousarray(fakes, dtype=np.float32))
    return index.search(np.ascontiguousarray(_unit64(X), dtype=np.float32), 1)[0][:, 0].astype(np.float64)


SHADOW_FEATURES = ("subspace_residual", "likelihood", "nearest_patch_mean")


def patch_features(model, X):
    """The three patch statistics of rows ``X`` under ``model``, shape (3, n) in :data:`SHADOW_FEATURES` order."""
    return np.stack([subspace_residual(model, X), likelihood(model, X), nearest_patch_mean(model, X)])


def shadow_models(model, pool, n_shadows, n_rows, random_state=0):
    """``n_shadows`` models of ``model``'s kind and parameters, each fitted on ``n_rows`` rows drawn from ``pool``
    (the patch count scaled to ``n_rows`` from the target's, its noise scale and bridge amount, no copy guard:
    the target's count is known)."""
    from ..models.patch import PatchPCA
    from ..progress import muted

    params = model.get_params()
    n_fit = int(model.counts_.sum())
    params.update(n_patches=max(1, round(model.n_patches_ * n_rows / n_fit)), noise_scale=float(model.noise_scale_),
                  bridge=float(model.bridge_), copy_guard=False, verbose=0)
    rng = np.random.default_rng(random_state)
    out = []
    for i in range(n_shadows):
        stage(f"membership attacks: shadow model {i + 1} of {n_shadows} on {n_rows:,} rows", step="shadows")
        rows = pool[np.sort(rng.choice(len(pool), n_rows, replace=False))]
        with muted():
            out.append(PatchPCA(**{**params, "random_state": int(rng.integers(2**31))}).fit(rows))
    return out


def shadow_lira(model, shadows, members, others, target=None):
    """Offline LiRA scores of ``members`` and ``others`` (see the module's text): ``(member_scores,
    other_scores)``. ``target``: their :func:`patch_features` under ``model`` when already computed."""
    X = np.concatenate([members, others])
    target = patch_features(model, X) if target is None else target
    out = np.stack([patch_features(m, X) for m in shadows])  # (shadows, 3, n)
    mean = out.mean(axis=0)
    sd = np.sqrt(np.mean(out.var(axis=0, ddof=1 if len(shadows) > 1 else 0), axis=1, keepdims=True))
    z = ((target - mean) / np.maximum(sd, 1e-12)).sum(axis=0)
    return z[:len(members)], z[len(members):]


def roc_figures(members, others, fpr=TARGET_FPR):
    """ROC AUC of ``members`` scores against ``others`` (ties count half) and the largest true-positive rate
    at a false-positive rate <= ``fpr``."""
    from scipy.stats import rankdata

    m, o = len(members), len(others)
    ranks = rankdata(np.concatenate([members, others]))
    auc = (ranks[:m].sum() - m * (m + 1) / 2) / (m * o)
    # a threshold strictly above the k-th highest non-member score lets through at most k of them
    k = int(np.floor(fpr * o))
    high = np.sort(others)[::-1]
    cut = high[k] if k < o else -np.inf
    tpr = float(np.mean(members > cut))
    return float(auc), tpr


def attack_summary(members, others, n_boot=N_BOOT, seed=0):
    """AUC and TPR at 1% FPR with 95% bootstrap intervals (members and non-members resampled apart)."""
    auc, tpr = roc_figures(members, others)
    rng = np.random.default_rng(seed)
    boots = np.array([roc_figures(members[rng.integers(0, len(members), len(members))],
                                  others[rng.integers(0, len(others), len(others))]) for _ in range(n_boot)])
    lo, hi = np.percentile(boots, [2.5, 97.5], axis=0)
    return {"auc": round(auc, 4), "auc_ci": [round(float(lo[0]), 4), round(float(hi[0]), 4)],
            "tpr_at_1pct_fpr": round(tpr, 4), "tpr_ci": [round(float(lo[1]), 4), round(float(hi[1]), 4)]}


def attacks_plan(model=None, n_fakes=100_000, fakes=None, shadows=0, train=None, **_):
    """The steps of :func:`membership_attacks` and their seconds (:mod:`synth.progress`)."""
    patch = getattr(model, "kind", None) == "patch"
    steps = attack_steps(patch, n_fakes if fakes is None else len(fakes), sample=fakes is None)
    if patch and shadows:
        rows = len(train) if train is not None else 10_000
        steps += [("shadows", SHADOW_SECONDS * shadows * rows / 10_000), ("shadow_lira", 6.0 * (shadows + 1))]
    return steps


SHADOW_SECONDS = 9.0  # one shadow patch model of 10,000 bundled 384-d rows at a fixed noise scale (2 cores)


def attack_steps(patch, n_fakes, sample):
    """Seconds of each attack (a patch model faces four) and of sampling ``n_fakes`` rows for the last,
    measured by ``synth audit`` at its defaults (5,000 members, 100,000 fakes) on a patch model of 10,000
    bundled 384-d rows (2 cores, load 4); sampling and the nearest-fake search grow with ``n_fakes``."""
    steps = [("sample", 0.95 * n_fakes / 100_000)] if sample else []
    if patch:
        steps += [("subspace_residual", 1.6), ("likelihood", 4.1), ("nearest_patch_mean", 0.3)]
    return steps + [("nearest_fake", 12.2 * n_fakes / 100_000)]


@planned(attacks_plan)
def membership_attacks(model, train, heldout, n=5000, n_fakes=100_000, random_state=0, n_boot=N_BOOT, fakes=None,
                       shadows=0):
    """Run every attack that applies to ``model`` on ``n`` training rows and ``n`` held-out rows.

    Parameters
    ----------
    model : Generator
        Fitted on ``train``.
    train, heldout : ndarray of shape (n_samples, n_features)
        The training rows and real rows the model never saw.
    n : int
        Members and non-members scored (each at most its set's size).
    n_fakes : int
        Rows sampled for the nearest-fake attack.
    fakes : ndarray of shape (n_rows, n_features), optional
        The rows the nearest-fake attack searches instead of ``n_fakes`` fresh samples: a published corpus
        (publish passes its first rows), so the attack is on what is released.
    shadows : int
        Patch models: also run ``shadow_lira`` with this many shadow models, each fitted on as many rows as the
        target (at most the held-out rows left after the ``n`` scored ones) drawn from the held-out rows that are
        not scored; skipped, with the reason in ``shadow``, when fewer than 1,000 are left.

    Returns
    -------
    dict
        ``n``, ``n_fakes``, ``shadow`` (the shadow attack's set-up, or why it did not run; None when not asked),
        ``attacks`` (per attack: ``auc``, ``auc_ci``, ``tpr_at_1pct_fpr``, ``tpr_ci``),
        ``worst`` (the attack with the highest AUC), ``passed``, ``check`` (the verdict in words),
        ``max_auc`` and ``max_tpr``.
    """
    n = int(min(n, len(train), len(heldout)))
    rng = np.random.default_rng(random_state)
    members = np.asarray(train)[np.sort(rng.choice(len(train), n, replace=False))]
    scored = np.sort(rng.choice(len(heldout), n, replace=False))
    others = np.asarray(heldout)[scored]
    scorers = {}
    if getattr(model, "kind", None) == "patch":
        scorers = {"subspace_residual": lambda X: subspace_residual(model, X),
                   "likelihood": lambda X: likelihood(model, X),
                   "nearest_patch_mean": lambda X: nearest_patch_mean(model, X)}
    if fakes is None:
        stage(f"membership attacks: sampling {n_fakes:,} fakes", step="sample")
        fakes = model.sample(n_fakes, random_state=random_state + 1)
    if getattr(model, "norm_table_", None) is not None:  # ip / l2: the attacks compare directions
        fakes = _unit64(fakes).astype(np.float32)
    n_fakes = len(fakes)
    scorers["nearest_fake"] = lambda X: nearest_fake(fakes, X)
    attacks, scores = {}, {}
    for name, f in scorers.items():
        stage(f"membership attacks: {name.replace('_', ' ')}, {n:,} members and non-members", step=name)
        scores[name] = f(members), f(others)
        attacks[name] = attack_summary(*scores[name], n_boot=n_boot, seed=random_state)
    shadow = None
    if shadows and getattr(model, "kind", None) == "patch":
        pool = np.delete(np.asarray(heldout), scored, axis=0)
        rows = int(min(model.counts_.sum(), len(pool)))
        if rows < SHADOW_MIN_ROWS:
            shadow = {"ran": False, "why": f"{len(pool):,} held-out rows are left after the {n:,} scored ones; the "
                                           f"shadow models need at least {SHADOW_MIN_ROWS:,}"}
        else:
            models = shadow_models(model, pool, shadows, rows, random_state + 2)
            stage(f"membership attacks: shadow LiRA, {n:,} members and non-members", step="shadow_lira")
            target = np.stack([np.concatenate(scores[name]) for name in SHADOW_FEATURES])  # scored above
            attacks["shadow_lira"] = attack_summary(*shadow_lira(model, models, members, others, target),
                                                    n_boot=n_boot, seed=random_state)
            shadow = {"ran": True, "shadows": int(shadows), "rows": rows, "pool": int(len(pool)),
                      "n_patches": int(models[0].n_patches_)}
    passed, check = check_membership(attacks)
    worst = max(attacks, key=lambda a: attacks[a]["auc"])
    return {"n": n, "n_fakes": int(n_fakes), "shadow": shadow, "attacks": attacks, "worst": worst, "passed": passed,
            "check": check, "max_auc": MAX_AUC, "max_tpr": MAX_TPR}


SHADOW_MIN_ROWS = 1000  # fewer held-out rows left for the shadow models: the shadow attack does not run


def check_membership(attacks, max_auc=MAX_AUC, max_tpr=MAX_TPR):
    """``(passed, reason)``: every attack at AUC <= ``max_auc`` and TPR at 1% FPR <= ``max_tpr``."""
    why = [f"{name} AUC {a['auc']:.3f} > {max_auc}" for name, a in attacks.items() if a["auc"] > max_auc]
    why += [f"{name} TPR at 1% FPR {a['tpr_at_1pct_fpr']:.3f} > {max_tpr}" for name, a in attacks.items()
            if a["tpr_at_1pct_fpr"] > max_tpr]
    return (True, "passed") if not why else (False, "failed: " + "; ".join(why))
