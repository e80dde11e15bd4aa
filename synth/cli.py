"""The ``synth`` command: fit, sample, stats, score, demo. Each command parses, calls the library, prints."""

import json
import sys
import time
from pathlib import Path

import click
import numpy as np

from .errors import SynthError


class Group(click.Group):
    """Turn input problems into a one-line error and exit status 1, without a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SynthError as e:
            raise click.ClickException(str(e)) from None


def input_options(f):
    """--key/--column/--split: where the vectors are inside a file."""
    f = click.option("--split", help="Dataset split (datasets folders and hf: ids; default train).")(f)
    f = click.option("--column", help="Vector column of a parquet file or dataset (default: the only one).")(f)
    return click.option("--key", help="Array in an .npz, dataset in an .h5 (default train), Hub config.")(f)


def seed_option(f):
    return click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                        help="Random seed; the same seed gives the same bytes.")(f)


def force_option(f):
    return click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")(f)


def check_output(path, force):
    if Path(path).exists() and not force:
        raise SynthError("exists already (use --force to overwrite)", path)


def progress():
    """Progress bars only for a person watching a terminal."""
    return int(sys.stderr.isatty())


def parse_noise_scale(ctx, param, value):
    if value == "auto":
        return value
    try:
        scale = float(value)
    except ValueError:
        scale = -1.0
    if not scale >= 0:
        raise click.BadParameter(f"{value!r} is neither 'auto' nor a number >= 0")
    return scale


def echo_json(obj):
    click.echo(json.dumps(obj, indent=2))


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="synth-embeddings")
def main():
    """Synthetic embedding corpora that behave like real ones.

    Fit a small patch model to real embeddings (rows are L2-normalized: cosine geometry), share the model
    file instead of the data, sample corpora of any size from it, and score how close fake is to real.

    \b
    Quick start:
      synth demo                              # the whole job on the bundled real sample
      synth fit real.npy -o model.safetensors
      synth sample model.safetensors -n 1000000 -o fake.fbin
      synth score heldout.npy fake.fbin --train real.npy
    """


@main.command()
@click.argument("real")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="Model file to write.")
@click.option("--kind", type=click.Choice(["patch", "fog", "random"]), default="patch", show_default=True,
              help="patch: local-PCA patch model; fog: statistics-matched Gaussian mixture; random: uniform.")
@click.option("--patches", type=click.IntRange(min=1), default=160, show_default=True,
              help="Patch count (patch model) before small patches are merged away.")
@click.option("--rank", type=click.IntRange(min=0), default=40, show_default=True,
              help="Principal directions kept per patch.")
@click.option("--min-points", type=click.IntRange(min=10), default=20, show_default=True,
              help="No patch summarises fewer training points (privacy bound; never below 10).")
@click.option("--noise-scale", default="auto", show_default=True, callback=parse_noise_scale,
              help="Scale of the residual noise outside the kept directions; 'auto' calibrates it with the "
                   "two-sample test on a split of REAL (1 = plain probabilistic PCA).")
@input_options
@seed_option
@force_option
def fit(real, out, kind, patches, rank, min_points, noise_scale, key, column, split, seed, force):
    """Fit a model to the real embeddings in REAL and write it to OUT.

    REAL is a file (.npy .npz .fvecs .fbin .h5 .parquet), a datasets folder or hf:owner/name. OUT is a
    safetensors file holding the arrays, the parameters, a fingerprint and statistics of the fit data, and
    a checksum; share it instead of the data.
    """
    from .fitting import fit_model

    check_output(out, force)
    t0 = time.perf_counter()
    params = {"patch": dict(n_patches=patches, rank=rank, min_points=min_points, noise_scale=noise_scale)
              }.get(kind, {})
    model, info, size = fit_model(real, out, kind=kind, params=params, random_state=seed, verbose=progress(),
                                  key=key, column=column, split=split)
    click.echo(f"read {info['n']} x {info['d']} from {real} ({info['n_duplicates']} duplicate rows)")
    if kind == "patch":
        click.echo(f"fitted {model.n_patches_} patches (rank <= {rank}, >= {model.counts_.min()} points each), "
                   f"noise scale {model.noise_scale_:.3g}" + (" (calibrated)" if model.calibration_ else ""))
    elif kind == "fog":
        click.echo(f"fog knobs {model.knobs_}, largest statistic mismatch {model.match_error_:.1%}")
    click.echo(f"wrote {out}: {size / 1e6:.2f} MB in {time.perf_counter() - t0:.1f} s")


@main.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.option("-n", "n", type=click.IntRange(min=1), required=True, help="Number of vectors.")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False),
              help="Output file; format by extension: .npy .fbin .fvecs .h5 .parquet.")
@click.option("--dtype", type=click.Choice(["float32", "float16"]), default="float32", show_default=True)
@click.option("--chunk-size", type=click.IntRange(min=1), default=65536, show_default=True,
              help="Rows generated per step (memory); does not change the output.")
@seed_option
@force_option
def sample(model, n, out, dtype, chunk_size, seed, force):
    """Sample N vectors from MODEL into OUT, streaming, deterministically for a given --seed."""
    from tqdm.auto import tqdm

    from .artifact import load_model
    from .io import open_writer

    check_output(out, force)
    gen = load_model(model)
    t0 = time.perf_counter()
    with open_writer(out, n, gen.n_features_, dtype=np.dtype(dtype)) as writer, \
            tqdm(total=n, unit="vec", unit_scale=True, disable=not progress(), leave=False) as bar:
        for chunk in gen.iter_samples(n, random_state=seed, chunk_size=chunk_size):
            writer.write(chunk)
            bar.update(len(chunk))
    click.echo(f"wrote {n} x {gen.n_features_} {dtype} to {out} in {time.perf_counter() - t0:.1f} s")


@main.command()
@click.argument("x")
@click.option("--n", "n", type=click.IntRange(min=3), default=None, help="Use a random subset of n rows.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@input_options
@seed_option
def stats(x, n, as_json, key, column, split, seed):
    """Geometry statistics of the embeddings in X (rows L2-normalized).

    TwoNN intrinsic dimension, IsoScore, participation ratio, anisotropy (mean pairwise cosine) and mean
    nearest-neighbour cosine. All but the spectrum depend on n: compare sets at equal n.
    """
    from .io import load_embeddings
    from .metrics import geometry_stats

    X, info = load_embeddings(x, key=key, column=column, split=split, min_points=3)
    result = geometry_stats(X, n=n, random_state=seed)
    result["n_duplicates"] = info["n_duplicates"]
    if as_json:
        echo_json(result)
    else:
        click.echo(f"{x}: {info['n']} x {info['d']}, {info['n_duplicates']} duplicate rows")
        for name, value in result.items():
            click.echo(f"  {name:<22}{value:.4g}" if isinstance(value, float) else f"  {name:<22}{value}")


@main.command()
@click.argument("real")
@click.argument("fake")
@click.option("--train", help="The real points the model was fitted on: adds the memorization check and "
                               "makes the ceiling TRAIN vs REAL.")
@click.option("--n", "n", type=click.IntRange(min=11), default=5000, show_default=True,
              help="Points per side (capped by what the files hold).")
@click.option("--k", "k", type=click.IntRange(min=1), default=10, show_default=True, help="Neighbours.")
@click.option("--permutations", type=click.IntRange(min=1), default=200, show_default=True,
              help="Label shuffles for the p-value.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@seed_option
def score(real, fake, train, n, k, permutations, as_json, seed):
    """How close FAKE is to REAL (held-out real embeddings, not used to fit).

    The k-NN two-sample test pools n real and n fake points and measures the share of each point's k
    neighbours that come from the other set: 0.5 means indistinguishable, 0 separable. It is reported
    pooled and per side (judge by the smaller side) next to the ceiling, the same test on two disjoint
    real samples. With --train, the memorization check compares each fake point's nearest training cosine
    with held-out real's.
    """
    from .io import load_embeddings
    from .report import format_score
    from .twosample import score as run_score

    R, _ = load_embeddings(real)
    F, _ = load_embeddings(fake)
    T = load_embeddings(train)[0] if train else None
    for name, A in (("FAKE", F), ("TRAIN", T)):
        if A is not None and A.shape[1] != R.shape[1]:
            raise SynthError(f"{name} has dimension {A.shape[1]}, REAL has {R.shape[1]}",
                             fake if name == "FAKE" else train)
    result = run_score(R, F, train=T, n=n, k=k, n_permutations=permutations, random_state=seed,
                       progress=bool(progress()))
    click.echo(json.dumps(result, indent=2) if as_json else format_score(result))


@main.command()
@click.option("--out", type=click.Path(file_okay=False), default="synth-demo", show_default=True,
              help="Folder for demo.json, demo.md and clouds.png.")
@click.option("--n", "n", type=click.IntRange(min=100), default=5000, show_default=True,
              help="Points per side in the two-sample test and the statistics.")
@seed_option
def demo(out, n, seed):
    """Fit patch, fog and random models on the bundled real sample and compare them with held-out real.

    The bundled sample is all-MiniLM-L6-v2 over WordNet glosses. Prints the statistics of real, patch
    fake, fog and random, their two-sample test against held-out real at the stated n with the real-vs-real
    ceiling, and the memorization check; writes a 2-D map of the four clouds.
    """
    from .demo import run_demo
    from .report import format_demo

    result = run_demo(out, n=n, random_state=seed, verbose=progress())
    click.echo(format_demo(result))
    click.echo(f"\nwrote {Path(out) / 'demo.json'}, {Path(out) / 'demo.md'}, {Path(out) / 'clouds.png'}")


if __name__ == "__main__":
    main()
