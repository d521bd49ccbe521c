"""One validated settings object for every service (env vars and `.env`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from functools import lru_cache
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.broker_urls import broker_addresses
from shared.providers.table import VENDORS
from shared.routing.bandit.params import BanditParams

# Values people paste from examples; they must never reach a provider in production.
_PLACEHOLDERS = {
    "",
    "changeme",
    "change-me",
    "changethis",
    "your-key-here",
    "xxx",
    "secret",
    "todo",
}


def _is_placeholder(value: str) -> bool:
    lowered = value.strip().lower()
    return (
        lowered in _PLACEHOLDERS
        or lowered.startswith(("your-", "<", "sk-xxx"))
        or (set(lowered) <= {"x", "-", "_"})
    )


class Settings(BaseSettings):
    """Every knob of the system. Names match the deployment guide (`GOOGLE_API_KEY`, ...)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    environment: Literal["development", "test", "staging", "production"] = "development"
    log_level: str = "INFO"

    rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/optimizer"
    # Prepended to every queue and exchange name, so that several deployments (or test runs)
    # can share one broker without consuming each other's messages.
    amqp_prefix: str = ""

    ingress_host: str = "0.0.0.0"  # noqa: S104 - a container must listen on all interfaces
    ingress_port: int = Field(default=8000, ge=1, le=65535)
    # Workers expose /metrics, /livez and /readyz here; 0 disables the probe server.
    probe_port: int = Field(default=0, ge=0, le=65535)

    # One key and one base URL per vendor of shared/providers/table.py.
    anthropic_api_key: SecretStr | None = None
    google_api_key: SecretStr | None = None
    openrouter_api_key: SecretStr | None = None
    anthropic_base_url: str = "https://api.anthropic.com"
    gemini_base_url: str = "https://generativelanguage.googleapis.com"
    openrouter_base_url: str = "https://openrouter.ai/api/v1"
    # An OpenAI-compatible server of your own (vLLM, Ollama: e.g. http://127.0.0.1:11434/v1);
    # set, it is the `selfhosted` provider of the catalog. Its key is optional.
    selfhosted_base_url: str = ""
    selfhosted_api_key: SecretStr | None = None
    # Production without any provider key runs only the simulated model: allowed only on purpose.
    allow_simulated_in_production: bool = False
    simulated_latency_ms: int = Field(default=20, ge=0)

    # The longest an HTTP caller is waited for; a shorter timeout of its own (X-Request-Timeout,
    # the openai SDK's X-Stainless-Timeout) is its request's deadline. Past it no router starts
    # the call (services/ingress/deadlines.py).
    request_timeout_s: float = Field(default=60.0, gt=0, description="ingress waits this long")
    request_deadline_s: float = Field(default=45.0, gt=0, description="router's budget per request")
    provider_timeout_s: float = Field(default=30.0, gt=0, description="one provider call")
    max_attempts_per_model: int = Field(default=3, ge=1)
    retry_base_delay_s: float = Field(default=0.25, ge=0)
    circuit_failure_threshold: int = Field(default=5, ge=1)
    circuit_reset_s: float = Field(default=30.0, gt=0)

    router_prefetch: int = Field(default=64, ge=1)
    feedback_prefetch: int = Field(default=256, ge=1)
    # The recorder stores the completions of this window in one transaction: under load a
    # longer window means fewer, larger transactions; rows appear at most this much later.
    recorder_window_ms: float = Field(default=25.0, ge=0, le=1000)
    # A router that has other requests in flight waits this long for their events, so that
    # they share one confirmed publish; a router with nothing else in flight never waits.
    completion_linger_ms: float = Field(default=2.0, ge=0, le=50)
    # A streamed answer's pieces that arrive within this window after a chunk message go out
    # together in the next one (the first piece never waits). Under load the window widens so
    # that one router sends at most STREAM_MAX_CHUNKS_PER_S chunk messages in all: each costs
    # the router, the broker and the ingress more CPU than the text it carries.
    stream_coalesce_ms: float = Field(default=25.0, ge=0, le=1000)
    stream_max_chunks_per_s: float = Field(default=600.0, gt=0)
    delivery_limit: int = Field(default=5, ge=1)
    feedback_grace_s: float = Field(default=2.0, ge=0)
    # A rating whose request is not recorded is parked this long, then deleted: a request's
    # row lands within seconds, so one that never came is a wrong or made-up request_id.
    pending_feedback_ttl_s: float = Field(default=86_400.0, gt=0)
    # Requests and their ratings older than this many days are dropped, a whole month at a
    # time (shared/storage/partitions.py); 0 keeps them forever.
    data_retention_days: int = Field(default=0, ge=0)

    catalog_path: str | None = None
    # A TOML file of models to add or change (docs/api.md#any-model); validated at start,
    # re-read on SIGHUP and on POST /admin/catalog/reload.
    catalog_overlay_path: str | None = None
    default_premium_model: str = "claude-opus-4-5"
    quality_floor: float = Field(default=0.8, ge=0, le=1)
    # The one decision knob: the cheapest candidate whose predicted quality reaches this share
    # of the best candidate's. A request's `constraints.quality_target`, else its key's, wins.
    quality_target: float = Field(default=BanditParams().quality_target, ge=0, le=1)
    # Exploration by the learned model may cost at most this share of what routing saved
    # (each router counts its own, from its start).
    bandit_exploration_share: float = Field(default=BanditParams().exploration_share, ge=0, le=1)
    # The target as an aggregate: the last this many routed decisions of a router keep the
    # target's share of the best predicted quality on the whole (docs/bandit.md); 0, the
    # default: each prompt must reach it on its own (the per-prompt rule).
    bandit_target_window: int = Field(default=BanditParams().weight_window, ge=0)
    exploration_rate: float = Field(default=0.05, ge=0, le=1)
    override_min_confidence: Literal["low", "medium", "high"] = "medium"

    learner_cron: str = "0 3 * * *"
    learner_window_days: int = Field(default=30, ge=1)
    learner_min_samples: int = Field(default=20, ge=1)
    learner_confidence_threshold: float = Field(default=0.7, gt=0, lt=1)
    # Unset: the floor rule (cheapest model whose bound clears the threshold). Set: the value
    # rule, best bound x value - cost, with this many USD as the worth of a good answer.
    learner_value_per_good_usd: float | None = Field(default=None, gt=0)
    # The quality model learns the ratings that came since its last fit this often (seconds);
    # 0 fits only on demand (optimizer model apply, POST /admin/learning/model/fit).
    learner_model_fit_interval_s: float = Field(default=900.0, ge=0)
    # Versions whose model stays restorable (a learned model is up to a few MB); older ones keep
    # their row, as the history, without the model.
    learner_model_versions_kept: int = Field(default=100, ge=1)

    # Context vectors stored per request (float16, no text) are deleted after this many days;
    # the learned model keeps what it learned from them. Keep it >= LEARNER_WINDOW_DAYS.
    feature_retention_days: int = Field(default=30, ge=1)

    store_prompt_preview: bool = False
    heartbeat_interval_s: float = Field(default=5.0, gt=0)

    # --- HTTP API surface (docs/api.md) ---
    # Bearer API keys on every endpoint but /health, /metrics, docs and contracts. Switching
    # them off is refused outside development/test, and /health says when they are off.
    auth_enabled: bool = True
    # The ingress caches a key's record this long: a revocation takes effect within it.
    auth_cache_ttl_s: float = Field(default=30.0, ge=0)
    auth_lookup_timeout_s: float = Field(default=5.0, gt=0)
    # In-flight budget reservations older than this stop counting (a lost request frees it).
    budget_reservation_ttl_s: float = Field(default=300.0, gt=0)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_prompt_chars: int = Field(default=200_000, ge=1)
    max_tokens_limit: int = Field(default=8192, ge=1, le=32768)
    # Browser origins allowed by CORS, comma separated or a JSON list; none by default.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _auth_off_only_in_development(self) -> Settings:
        if not self.auth_enabled and self.environment not in ("development", "test"):
            raise ValueError(
                f"ENVIRONMENT={self.environment}: AUTH_ENABLED=false is for local development "
                "only; create keys with `optimizer keys create` instead"
            )
        return self

    @field_validator("rabbitmq_url")
    @classmethod
    def _broker_addresses_parse(cls, value: str) -> str:
        broker_addresses(value)  # one node or several (shared/messaging/cluster.py)
        return value

    @model_validator(mode="after")
    def _retention_covers_learning_window(self) -> Settings:
        if 0 < self.data_retention_days < self.learner_window_days:
            raise ValueError(
                f"DATA_RETENTION_DAYS={self.data_retention_days} is shorter than "
                f"LEARNER_WINDOW_DAYS={self.learner_window_days}: the learner would lose "
                "ratings inside its window; keep them at least as long (0 keeps them forever)"
            )
        return self

    @model_validator(mode="after")
    def _refuse_placeholders_outside_development(self) -> Settings:
        if self.environment in ("development", "test"):
            return self
        problems: list[str] = []
        for row in VENDORS:
            secret = self.api_key(row.key)
            if row.configured_by_url and secret is None:
                continue
            if secret is not None and _is_placeholder(secret.get_secret_value()):
                problems.append(
                    f"{row.api_key_env} holds a placeholder: set a real key or unset it"
                )
        for address in broker_addresses(self.rabbitmq_url):
            broker = urlsplit(address)
            if broker.username in (None, "guest") or _is_placeholder(broker.password or ""):
                problems.append(
                    "RABBITMQ_URL uses default or placeholder credentials: set RABBITMQ_URL"
                )
                break
        if problems:
            raise ValueError(f"ENVIRONMENT={self.environment}: " + "; ".join(problems))
        return self

    def require_for(self, services: Iterable[str]) -> None:
        """Refuse, outside development, what these services need and lack.

        Checked per service because each gets only what it needs: the ingress and routers
        hold no database credentials, the feedback and learner workers no provider keys.
        """
        if self.environment in ("development", "test"):
            return
        wanted = set(services)
        problems: list[str] = []
        if (
            "router" in wanted
            and not self.configured_providers()
            and not self.allow_simulated_in_production
        ):
            names = ", ".join(row.api_key_env for row in VENDORS)
            problems.append(
                f"no provider key is set: set one of {names} "
                "(or ALLOW_SIMULATED_IN_PRODUCTION=true on purpose)"
            )
        if wanted & {"ledger", "feedback", "learner", "migrate"}:
            database = urlsplit(self.database_url)
            if _is_placeholder(database.password or ""):
                problems.append("DATABASE_URL has no or a placeholder password: set DATABASE_URL")
        if problems:
            raise ValueError(f"ENVIRONMENT={self.environment}: " + "; ".join(problems))

    def api_key(self, provider: str) -> SecretStr | None:
        """The key of a vendor of shared/providers/table.py (None when unset)."""
        row = next(row for row in VENDORS if row.key == provider)
        secret: SecretStr | None = getattr(self, row.api_key_setting)
        return secret

    def base_url(self, provider: str) -> str:
        row = next(row for row in VENDORS if row.key == provider)
        url: str = getattr(self, row.base_url_setting)
        return url

    def configured_providers(self) -> list[str]:
        """Vendors whose key (or, self-hosted, base URL) is set; simulated is always there."""
        return [
            row.key
            for row in VENDORS
            if (
                self.base_url(row.key).strip()
                if row.configured_by_url
                else (key := self.api_key(row.key)) is not None and key.get_secret_value().strip()
            )
        ]

    def name(self, base: str) -> str:
        """A queue or exchange name inside this deployment's namespace."""
        return f"{self.amqp_prefix}{base}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()


def settings_for(services: Iterable[str]) -> Settings | None:
    """The settings, checked for these services; None after printing why (for CLI commands)."""
    try:
        settings = get_settings()
        settings.require_for(services)
    except ValidationError as exc:
        # Field names and reasons only: pydantic's own text quotes the input, secrets included.
        for error in exc.errors(include_input=False, include_url=False):
            field = ".".join(str(p) for p in error["loc"]).upper() or "settings"
            print(f"Configuration error: {field}: {error['msg']}", file=sys.stderr)
        return None
    except ValueError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return None
    return settings
