"""Sentence embeddings (public path; the code lives in ``integrations.semantic``).

Importing this module is cheap: torch and sentence-transformers load on the first embedding.
"""

from pytest_agentchaos.integrations.semantic import (
    MODEL_PACKAGE,
    Embedder,
    LexicalEmbedder,
    MiniLMEmbedder,
    cosine,
    embedder,
    minilm_available,
)

__all__ = [
    "MODEL_PACKAGE",
    "Embedder",
    "LexicalEmbedder",
    "MiniLMEmbedder",
    "cosine",
    "embedder",
    "minilm_available",
]
