"""exo-gay: verifiable colour mining and the `gay` layer-partitioning strategy for exo."""

__version__ = "0.1.0"
