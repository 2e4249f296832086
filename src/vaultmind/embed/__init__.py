"""Embedders: the Embedder protocol and the models behind it."""
