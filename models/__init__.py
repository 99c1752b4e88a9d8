"""gauapp models: networks, official-checkpoint importers, our model file, label sets and
inference pipelines. Plain torch + numpy; no Qt."""

__version__ = "0.1.0"
