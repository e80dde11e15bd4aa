"""The scoreboards' split of the real rows into fitting rows and held-out rows, with or without a model file.

``bench fidelity`` and ``bench cost`` permute REAL once (seeded) and fit on its first N rows; the rest are held
out. Given a model file the user fitted (`synth fit`), the boards score it instead of fitting on the spot, and
its rows must not be scored as held-out real. The file's fingerprint of its training rows (n and the sha256
of the float32 rows in order, :func:`synth.io.formats.fingerprint`) says which rows those were:

- the first n rows of the board's permutation (a model fitted on the split docs/cost.md writes): the
  split is the board's own, the rest of REAL is held out and the memorization check has the training rows;
- all of REAL: nothing is held out; refused;
- neither: the training rows may still be among REAL's (another seed, another order), where nothing can find
  them; refused, unless the caller says that REAL holds only rows the model never saw (``all_heldout``,
  ``--all-heldout``). Then all of REAL is held out and the memorization check is not run, for want of the
  training rows (the reason is reported).
"""

import numpy as np

from synth.bundled import SPLIT_TRAIN as N_FIT  # the boards' default N, a named set's train part
from synth.errors import SynthError


def _fitted_on(rows, sha, metric):
    """Whether ``rows`` are the rows a model file with fingerprint ``sha`` was fitted on.

    Cosine rows saved to a file and read back by `synth fit` are normalized again, which can move their last
    bit: both forms are tried.
    """
    from synth.io.arrays import unit_rows
    from synth.io.formats import fingerprint

    return fingerprint(rows) == sha or (metric == "cosine" and fingerprint(unit_rows(rows, renormalize=True)) == sha)


def board_split(real, n_fit=None, random_state=0, model=None, source=None, metric="cosine", all_heldout=False):
    """The fitting rows and the held-out rows of a scoreboard.

    Parameters
    ----------
    real : ndarray of shape (n_samples, n_features)
        The rows as the board scores them (unit rows for cosine, raw rows for ip / l2).
    n_fit : int, optional
        N, the fitting rows. Default :data:`N_FIT`, or with ``model`` the rows it was fitted on (a different
        value is refused).
    random_state : int
        Seed of the permutation.
    model : synth.models.Generator, optional
        A model read from a file (:func:`synth.io.artifact.load_model`: ``header_`` holds the fingerprint of its
        training rows, ``path_`` the file).
    source : str, optional
        The name REAL was given by (a named set, a file), for errors.
    metric : {"cosine", "ip", "l2"}
    all_heldout : bool
        With ``model``: REAL holds only rows the model was not fitted on (trusted; refused when REAL holds
        its training rows where the board can see them).

    Returns
    -------
    fit_rows : ndarray of shape (N, n_features) or None
        The rows to fit on (with ``model``: the rows it was fitted on), or None with ``all_heldout``.
    heldout : ndarray of shape (n_heldout, n_features)
        Rows never fitted on, in the order of the permutation.
    info : dict
        ``n_fit`` (N; with ``model``, its training rows' count), ``fit_rows`` ("split": the first N rows of
        the permutation; "not in REAL": REAL is all held out) and ``note`` (why the training rows are missing,
        or None).
    """
    order = np.random.default_rng(random_state).permutation(len(real))
    if all_heldout and model is None:
        raise SynthError("--all-heldout needs --model: it says REAL holds only rows the model was not fitted on")
    if model is None:
        n_fit = N_FIT if n_fit is None else n_fit
        return real[order[:n_fit]], real[order[n_fit:]], {"n_fit": n_fit, "fit_rows": "split", "note": None}
    path = getattr(model, "path_", None)
    fit = (getattr(model, "header_", None) or {}).get("fit_data") or {}
    n_model, sha = fit.get("n"), fit.get("sha256")
    if n_fit is not None and n_model is not None and n_fit != n_model:
        raise SynthError(f"fitted on {n_model:,} rows, but the board was asked to fit on {n_fit:,} (drop --fit/--train "
                         "to take the model's)", path)
    n_fit = n_model or n_fit or N_FIT
    if sha and n_model == len(real) and _fitted_on(real, sha, metric):
        raise SynthError(f"fitted on all {len(real):,} rows of {source or 'REAL'}, so none is held out for the real "
                         "side: fit on a training split of it (docs/cost.md, 'A model file') or pass rows the model "
                         "never saw", path)
    if sha and n_model and n_model < len(real) and _fitted_on(real[order[:n_model]], sha, metric):
        if all_heldout:
            raise SynthError(f"fitted on the first {n_model:,} rows of {source or 'REAL'}'s permutation at seed "
                             f"{random_state}, so {source or 'REAL'} is not all held out: drop --all-heldout", path)
        return real[order[:n_model]], real[order[n_model:]], {"n_fit": n_model, "fit_rows": "split", "note": None}
    if not all_heldout:
        raise SynthError(f"fitted on {f'{n_model:,}' if n_model else 'unknown'} rows of "
                         f"{fit.get('source') or 'unknown data'} that are not "
                         f"the first {n_fit:,} of {source or 'REAL'}'s permutation at seed {random_state}, so its "
                         "held-out rows cannot be told: fit on that split (docs/cost.md, 'A model file'), or pass "
                         "rows the model never saw with --all-heldout", path)
    return None, real[order], {"n_fit": n_fit, "fit_rows": "not in REAL",
                               "note": f"not run: the training rows are not in {source or 'REAL'} (--all-heldout)"}
