"""ANN benchmark harness: search cost at equal recall on real, fake, fog and random corpora."""
