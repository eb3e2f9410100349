"""The one typed settings object. Nothing else in the code base reads the environment."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
DEV_SECRET = "dev-only-secret-change-me-0123456789abcdef"
DEV_RASA_TOKEN = "dev-rasa-token-change-me"
DEV_ACTION_SERVER_TOKEN = "dev-action-server-token-change-me"


class Settings(BaseSettings):
    """Service configuration from environment variables (upper-case field names).

    Embedded defaults (SQLite file under ``var/``, in-memory tracker store) apply when nothing is set;
    ``DATABASE_URL`` (PostgreSQL) and ``REDIS_URL`` switch to production services.

    Raises:
        ValueError: outside ``ENVIRONMENT=development`` when ``JWT_SECRET`` is still the development
            placeholder or shorter than 32 characters, or ``RASA_TOKEN`` is the development default.
            (``ACTION_SERVER_TOKEN``'s default is refused by the action server itself: actions/server.py.)
    """

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    environment: str = "development"
    database_url: str = f"sqlite:///{ROOT / 'var' / 'crm.db'}"
    redis_url: str | None = None
    jwt_secret: str = DEV_SECRET
    jwt_ttl_minutes: int = 60
    data_dir: Path = ROOT.parent / "shared" / "data"
    model_registry: Path = ROOT / "recommender" / "registry"
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: str = DEV_RASA_TOKEN  # token of Rasa's HTTP API (--auth-token)
    action_server_url: str = "http://127.0.0.1:5055/webhook"
    # The secret Rasa sends the action server (bot/endpoints*.yml: Authorization: Bearer ...); actions/server.py
    # refuses every other call with 401.
    action_server_token: str = DEV_ACTION_SERVER_TOKEN
    # Business limits (EUR). One place: profiles.transfers reads them.
    daily_transfer_limit: Decimal = Decimal("5000.00")
    # Offer frequency (recommender.offers): no re-offer of a product within offer_cooloff_days of an answer
    # (accepted or declined); a product shown without an answer, and any other product, not within
    # offer_reshow_days of the customer's last suggestion.
    offer_cooloff_days: int = 30
    offer_reshow_days: int = 1
    # Event broker (the real-time profile feed). Unset RABBITMQ_URL = embedded: Rasa's SQL event broker
    # writes to events_db_url and the feed consumer polls it; set = RabbitMQ (pika) queue event_queue.
    rabbitmq_url: str | None = None
    event_queue: str = "rasa_events"
    # The fanout exchange Rasa publishes to and the queue is bound to (Rasa's own name by default). Every queue
    # bound to one exchange gets every event: copies of the project sharing one RabbitMQ (tests, a second
    # deployment) each take their own, or each feed stores the others' conversations too.
    event_exchange: str = "rasa-exchange"
    events_db_url: str = f"sqlite:///{ROOT / 'var' / 'events.db'}"
    feed_poll_seconds: float = 0.2
    # Trained analyses (credit, churn, segments) and their metadata, written by analytics/ (profiles.modelstore).
    analytics_dir: Path = ROOT / "var" / "analytics"
    # Messenger channels (issue 5). Unset = the channel is off. Outbound calls go to *_api_url (the real
    # cloud by default; tests point them at a local fake).
    telegram_token: str | None = None
    telegram_bot_name: str = "atlantic_nova_bot"
    telegram_secret_token: str | None = None  # checked against X-Telegram-Bot-Api-Secret-Token
    telegram_api_url: str = "https://api.telegram.org"
    telegram_webhook_url: str | None = None  # setWebhook target, called once at start-up when set
    facebook_verify: str | None = None
    facebook_secret: str | None = None  # app secret: X-Hub-Signature-256 is checked with it
    facebook_page_access_token: str | None = None
    facebook_api_url: str = "https://graph.facebook.com"
    facebook_api_version: str = "18.0"  # Graph API version in the send URL
    link_code_ttl_minutes: int = 10
    # Rate limits (profiles.ratelimit; `limits` notation "N/period"): chat turns that reach the action server
    # and hand-off requests, each per conversation (sender id) and per verified customer.
    chat_rate_limit: str = "30/minute"
    chat_customer_rate_limit: str = "60/minute"
    handoff_rate_limit: str = "3/10 minutes"
    handoff_customer_rate_limit: str = "5/hour"
    # Proactive push: no message in the customer's quiet hours (local time of push_timezone).
    quiet_hours_start: int = 21  # hour, 0-23
    quiet_hours_end: int = 8
    push_timezone: str = "Europe/Lisbon"
    # Marketing campaigns (profiles.campaigns, api.campaign_queue; docs/CAMPAIGNS.md). The task queue is huey:
    # RedisHuey on redis_url when set, else SqliteHuey in campaign_queue_file. campaign_sender "rasa" pushes
    # through Rasa (api.push.trigger); "record" only writes the delivery row (bulk tests, benchmark).
    campaign_queue_name: str = "nova-campaigns"
    campaign_queue_file: Path = ROOT / "var" / "campaign_queue.db"
    campaign_sender: str = "rasa"
    campaign_batch_size: int = 500  # recipients per queued task
    campaign_frequency_cap: int = 2  # deliveries per customer across all campaigns in 7 days
    campaign_stale_minutes: int = 5  # a queued batch untouched this long is re-queued; a send this old is unknown
    # Send rate per channel across every campaign worker (profiles.ratelimit.campaign_send_wait; `limits`
    # notation; "" = no limit). Over it a recipient is `throttled` and sent when the window allows.
    campaign_rate_telegram: str = "30/second"  # Telegram's broadcast guidance: about 30 messages a second
    campaign_rate_facebook: str = "40/second"
    campaign_rate_web: str = "50/second"  # the web chat (socketio): every push goes through Rasa
    seed: int = 20261129
    seed_customers: int = 0  # 0 = every row of the bank-marketing file
    # NLU annotation (profiles.nlu_annotation): where the export writes the reviewed examples (rasa train reads
    # data/), and the evaluator's report whose history the annotation page shows.
    nlu_reviewed_file: Path = ROOT / "data" / "nlu" / "reviewed.yml"
    nlu_eval_file: Path = ROOT / "results" / "nlu_eval.json"

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        if self.environment != "development" and (
            self.jwt_secret == DEV_SECRET or len(self.jwt_secret) < 32
        ):
            raise ValueError("JWT_SECRET must be set (>= 32 characters) outside development")
        if self.environment != "development" and self.rasa_token == DEV_RASA_TOKEN:
            raise ValueError("RASA_TOKEN must be set outside development")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment."""
    return Settings()
