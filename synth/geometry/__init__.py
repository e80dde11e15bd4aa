"""The geometry of a transformer's embeddings: every layer at token and sentence level (layers), the cone
axis and centering (cone), and the Cayley-Menger volume sweep against dimension (simplex)."""
