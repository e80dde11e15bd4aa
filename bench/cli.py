"""The ``bench`` command: ANN benchmarks on real, fake, fog and random corpora."""

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="synth-embeddings")
def main():
    """ANN index benchmarks: search cost at equal recall on real, fake, fog and random corpora."""


if __name__ == "__main__":
    main()
