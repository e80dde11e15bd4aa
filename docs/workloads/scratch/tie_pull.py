"""Scratch: tie fake queries to the fake corpus by a pull. A query u drawn from the query model is moved along the
great circle towards its nearest row x among the fake corpus's first N rows, q = normalize((1 - t) u + t x) with
t >= 0 (only towards x), until a statistic of q against those N rows reaches a target given by quantile mapping:
target = Q_real(F_fake(statistic of u)). Q_real is a 21-quantile table of the real training queries' statistic
against the real training corpus rows (what `synth fit` could store); F_fake is the same table of query-model
fakes against N corpus-model fakes, drawn at "fit time" with seeds of their own. Statistics: "top1" (the cosine to
the nearest row; closed form: q = c* x + sqrt(1 - c*^2) w, w the unit part of u orthogonal to x) and "gap" (the
nearest row's cosine minus the 10th's, among u's 50 nearest rows; the smallest move on a grid of 512 angles).
Variant "top1-half": the top1 pull on a seeded random half of the queries, the rest left as drawn. Variant
"push-top1" moves the corpus instead of the query: each query's nearest row among the first N not yet moved for an
earlier query is moved towards the query, along the same great circle, until its cosine to the query is the top1
target; the queries stay as drawn and the fake base is the one with those rows moved (reported too: c2st of the
moved rows, and of the same rows before the move, against as many of the real base's first rows).
Oracle diagnostics "top1-n" and "push-top1-n" (not something `synth fit` could store, it has N corpus rows): the
same at the base's scale, the tables from the real training queries against the n held-out real base rows and
from query-model fakes against n corpus-model fakes, the nearest row sought among all n fake base rows.

The split, the models, the fake base and the query model's draws are bench.querymodel.query_model_board's (same
permutation, same seeds: the "query model" row reproduces `bench query-model`), and so are the measures: c2st of
the 1,000 held-out real queries against 1,000 fake queries (pooled / real side / fake side), the cosine to the
1st / 10th / 100th nearest base row and the patches landed in (TV distance to real's) on 500, IVF and HNSW
distance computations at recall 0.95 (real queries on the n = 30,000 held-out real base, fake ones on the
corpus model's fake base of n) and fake / real.

Usage: python docs/workloads/scratch/tie_pull.py CORPUS QUERIES [VARIANT ...] [--seed S]
(S: the split's and the draws' seed, 0 by default, as `bench query-model --seed`; e.g. minilm-wordnet-all minilm-wordnet-lemmas; VARIANTs among top1, gap, top1-half, push-top1, top1-n,
push-top1-n, all by default).
Single-threaded (OMP_NUM_THREADS=1 and faiss.omp_set_num_threads(1)).
"""
import sys
import time

import faiss
import numpy as np

from bench.fidelity import fit_config
from bench.querymodel import _c2st, landing, profile
from synth.bundled import load_real
from synth.metric import metric_rows
from synth.metrics.neighbors import knn
from synth.metrics.searchcost import cost_ratio, search_cost

LEVELS = np.linspace(0, 1, 21)
K_NEAR = 50


def stats(reference, rows):
    """Per row: cosine to its nearest row of ``reference`` (top1) and that minus the 10th's (gap)."""
    sims = knn(reference, rows, k=10)[0].astype(np.float64)
    return {"top1": sims[:, 0], "gap": sims[:, 0] - sims[:, 9]}


def tables(values):
    return {key: np.quantile(v, LEVELS) for key, v in values.items()}


def mapped(value, fake_q, real_q):
    """Q_real(F_fake(value)), both tables interpolated linearly."""
    return np.interp(np.interp(value, fake_q, LEVELS), LEVELS, real_q)


def pull(reference, u, real_t, fake_t, stat, chosen):
    """The pulled queries (rows of ``u`` not ``chosen`` or already at their target stay) and the share moved."""
    sims, ids = knn(reference, u, k=K_NEAR)
    sims, ids = sims.astype(np.float64), ids
    u64 = u.astype(np.float64)
    x = reference[ids[:, 0]].astype(np.float64)
    a = np.clip(sims[:, 0], -1, 1)
    w = u64 - a[:, None] * x
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    theta = np.arccos(a)  # u's angle to x; q(phi) = cos(phi) x + sin(phi) w, phi in [0, theta]
    s0 = sims[:, 0] if stat in ("top1", "push") else sims[:, 0] - sims[:, 9]
    target = mapped(s0, fake_t["top1" if stat == "push" else stat], real_t["top1" if stat == "push" else stat])
    if stat in ("top1", "push"):
        phi = np.arccos(np.clip(target, -1, 1))
    else:
        near = reference[ids].astype(np.float64)  # (m, K, d)
        xy = np.einsum("md,mkd->mk", x, near)
        wy = np.einsum("md,mkd->mk", w, near)
        phi = np.empty(len(u))
        for i in range(len(u)):
            grid = np.linspace(theta[i], 0, 512)
            c = np.cos(grid)[:, None] * xy[i] + np.sin(grid)[:, None] * wy[i]
            c.sort(axis=1)
            g = c[:, -1] - c[:, -10]
            ok = np.flatnonzero(g >= target[i])
            phi[i] = grid[ok[0]] if len(ok) else 0.0
    if stat == "push":
        return push(reference, u64, ids, target)
    move = chosen & (phi < theta)
    phi = np.where(move, phi, theta)
    q = np.cos(phi)[:, None] * x + np.sin(phi)[:, None] * w
    q = np.where(move[:, None], q, u64)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    moved_cos = np.sum(q * u64, axis=1)[move]
    return q.astype(np.float32), float(move.mean()), float(np.median(moved_cos)) if move.any() else 1.0


def push(reference, u, ids, target):
    """Rows of ``reference`` moved towards the queries ``u`` (one row per query, the nearest not yet taken) until
    their cosine to the query is ``target``; returns the moved rows' indices and their new values."""
    taken, idx, rows = set(), [], []
    for i in range(len(u)):
        j = next((int(j) for j in ids[i] if int(j) not in taken), None)
        if j is None:
            continue
        taken.add(j)
        x = reference[j].astype(np.float64)
        a = float(x @ u[i])
        if target[i] <= a:
            continue
        w = x - a * u[i]
        w /= np.linalg.norm(w)
        phi = np.arccos(np.clip(target[i], -1, 1))
        idx.append(j)
        rows.append(np.cos(phi) * u[i] + np.sin(phi) * w)
    rows = np.array(rows)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return np.array(idx, dtype=np.int64), rows.astype(np.float32)


def main(corpus_name, query_name, variants, n_fit=10_000, n_fit_queries=10_000, n=30_000, n_test=500,
         n_c2st=1_000, k=10, random_state=0):
    faiss.omp_set_num_threads(1)
    t0 = time.perf_counter()
    corpus = metric_rows(load_real(corpus_name), "cosine", 2, corpus_name)
    queries = metric_rows(load_real(query_name), "cosine", 2, query_name)
    n_held = max(n_test, n_c2st)
    rng = np.random.default_rng(random_state)  # bench.querymodel.query_model_board's split and seeds
    oc, oq = rng.permutation(len(corpus)), rng.permutation(len(queries))
    fit_rows, base = corpus[oc[:n_fit]], corpus[oc[n_fit:n_fit + n]]
    fit_queries, test = queries[oq[:n_fit_queries]], queries[oq[n_fit_queries:n_fit_queries + n_held]]
    corpus_model, _ = fit_config("corpus", "patch", {}, fit_rows, random_state)
    query_model, _ = fit_config("queries", "patch", {}, fit_queries, random_state)
    seed_b, seed_q = (int(s) for s in np.random.SeedSequence(random_state).generate_state(2))
    fake_base = corpus_model.sample(n, random_state=seed_b)
    drawn = query_model.sample(n_held, random_state=seed_q)
    means = corpus_model.means_.astype(np.float32)

    # fit time: the real table from the training rows, the fake table from fakes of seeds of their own
    seed_cf, seed_qf, seed_share = (int(s) for s in np.random.SeedSequence([random_state, 1]).generate_state(3))
    real_t = tables(stats(fit_rows, fit_queries))
    fake_t = tables(stats(corpus_model.sample(n_fit, random_state=seed_cf),
                          query_model.sample(n_fit_queries, random_state=seed_qf)))
    for key in ("top1", "gap"):
        print(f"{key} at N, quantiles 0.05 / 0.5 / 0.95: real training queries "
              + " / ".join(f"{real_t[key][i]:.3f}" for i in (1, 10, 19)) + "; query-model fakes "
              + " / ".join(f"{fake_t[key][i]:.3f}" for i in (1, 10, 19)), flush=True)

    reference = fake_base[:n_fit]  # the fake corpus's first N rows
    if any(v.endswith("-n") for v in variants):  # the oracle tables, at the base's scale
        real_n = tables(stats(base, fit_queries))
        fake_n = tables(stats(corpus_model.sample(n, random_state=seed_cf),
                              query_model.sample(n_fit_queries, random_state=seed_qf)))
        print("top1 at n, quantiles 0.05 / 0.5 / 0.95: real training queries against the real base "
              + " / ".join(f"{real_n['top1'][i]:.3f}" for i in (1, 10, 19)) + "; query-model fakes "
              + " / ".join(f"{fake_n['top1'][i]:.3f}" for i in (1, 10, 19)), flush=True)
    sources = {"query model": (drawn, fake_base)}
    half = np.random.default_rng(seed_share).random(n_held) < 0.5
    every = np.ones(n_held, dtype=bool)
    for v in variants:
        stat, chosen = (("top1", half) if v == "top1-half" else ("push", every) if v.startswith("push")
                        else ("top1", every) if v == "top1-n" else (v, every))
        ref, rt, ft = (fake_base, real_n, fake_n) if v.endswith("-n") else (reference, real_t, fake_t)
        t1 = time.perf_counter()
        if stat == "push":
            idx, rows = pull(ref, drawn, rt, ft, stat, chosen)
            moved_base = fake_base.copy()
            moved_cos = np.sum(rows * fake_base[idx], axis=1)
            moved_base[idx] = rows
            print(f"{v}: {len(idx):,} rows moved for {n_held:,} queries, median cos(old, new) "
                  f"{np.median(moved_cos):.3f} ({time.perf_counter() - t1:.2f} s); c2st against the real base: "
                  f"moved rows {_c2st(base[:len(idx)], rows, k)}, the same rows before the move "
                  f"{_c2st(base[:len(idx)], fake_base[idx], k)}", flush=True)
            sources[v] = (drawn, moved_base)
            continue
        q, share, cos_uq = pull(ref, drawn, rt, ft, stat, chosen)
        print(f"pull {v}: {share:.1%} of the queries moved, median cos(u, q) of those {cos_uq:.3f} "
              f"({time.perf_counter() - t1:.2f} s for {n_held:,} queries against {len(ref):,} rows)", flush=True)
        sources[f"pull {v}"] = (q, fake_base)

    real_cost = search_cost(base, test[:n_test], k)
    rp, rs = profile(base, test[:n_test]), stats(fit_rows, test[:n_test])
    ceiling = _c2st(test[:n_c2st], fit_queries[:n_c2st], k)
    rows = [("real (c2st: ceiling)", ceiling, rp, None, real_cost, None, np.median(rs["top1"]),
             np.median(rs["gap"]))]
    print(f"real: {ceiling}, profile {rp}, cost {real_cost}", flush=True)
    for name, (q, fb) in sources.items():
        t = _c2st(test[:n_c2st], q[:n_c2st], k)
        p = profile(fb, q[:n_test])
        land = landing(means, test[:n_test], q[:n_test])
        c = search_cost(fb, q[:n_test], k)
        s = stats(fb[:n_fit], q[:n_test])
        rows.append((name, t, p, land, c, cost_ratio(c, real_cost), np.median(s["top1"]), np.median(s["gap"])))
        print(f"{name}: {t}, profile {p}, landing {land:.3f}, cost {c} ({time.perf_counter() - t0:.0f} s)",
              flush=True)

    print(f"\n{corpus_name} / {query_name}; top1 / gap at N: against the first N = {n_fit:,} rows of the base "
          f"(real: held-out queries against the real training rows)\n")
    print("| queries | c2st pooled / real / fake | cos to nbr 1 / 10 / 100 | top1 / gap at N | landing TV | IVF | "
          "HNSW | fake / real IVF, HNSW |")
    print("|---|---|---|---|---|---|---|---|")
    for name, t, p, land, c, r, s1, sg in rows:
        ratio = "" if r is None else f"{r['ivf']:.2f}, {r['hnsw']:.2f}"
        print(f"| {name} | {t['c2st']:.3f} / {t['c2st_real']:.3f} / {t['c2st_fake']:.3f} | "
              f"{p['1']:.3f} / {p['10']:.3f} / {p['100']:.3f} | {s1:.3f} / {sg:.3f} | "
              f"{'-' if land is None else f'{land:.3f}'} | {c['ivf']:,.0f} | {c['hnsw']:,.0f} | {ratio} |")
    print(f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    args, seed = sys.argv[1:], 0
    if "--seed" in args:
        i = args.index("--seed")
        seed = int(args[i + 1])
        args = args[:i] + args[i + 2:]
    main(args[0], args[1], args[2:] or ["top1", "gap", "top1-half", "push-top1", "top1-n", "push-top1-n"],
         random_state=seed)
