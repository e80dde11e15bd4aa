"""Pictures: several point clouds in one 2-D map fitted on the real one."""

import numpy as np

from .io.formats import atomic_path

COLORS = {"real": "#222222", "patch": "#1f77b4", "fog": "#ff7f0e", "random": "#2ca02c"}


def plot_clouds(real, others, path, n=2000, random_state=0, title=None):
    """Scatter ``real`` and each of ``others`` in the plane of real's top two principal components.

    The map is fitted on real only, so a fake that leaves real's region shows it. (UMAP would separate
    local structure better but needs about two minutes of JIT compilation on a fresh machine.)

    Parameters
    ----------
    real : ndarray of shape (n_real, d)
    others : dict of str to ndarray of shape (n_i, d)
    path : str or os.PathLike
        PNG to write.
    n : int, default=2000
        Points drawn per cloud.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(random_state)

    def pick(X):
        return X[rng.choice(len(X), size=min(n, len(X)), replace=False)]

    mean = real.mean(axis=0)
    _, _, Vt = np.linalg.svd(pick(real) - mean, full_matrices=False)
    clouds = {"real": real, **others}
    fig, axes = plt.subplots(1, len(clouds), figsize=(3.2 * len(clouds), 3.4), sharex=True, sharey=True)
    ref = (pick(real) - mean) @ Vt[:2].T
    for ax, (name, X) in zip(np.atleast_1d(axes), clouds.items()):
        P = (pick(X) - mean) @ Vt[:2].T
        if name != "real":
            ax.scatter(ref[:, 0], ref[:, 1], s=2, c="#cccccc", lw=0, label="real")
        ax.scatter(P[:, 0], P[:, 1], s=2, c=COLORS.get(name, "#9467bd"), lw=0, label=name)
        ax.set_title(name)
        ax.set_xticks([]), ax.set_yticks([])
    axes[0].set_ylabel("PC 2 of real")
    for ax in np.atleast_1d(axes):
        ax.set_xlabel("PC 1 of real")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
