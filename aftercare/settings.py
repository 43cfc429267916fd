"""Typed settings, read from the environment (prefix `AFTERCARE_`) or a `.env` file.

Every timing of the journey is a setting, so a store can tune its journey without code. Secrets are
`SecretStr` so they never print in logs, reprs or errors. Obtain settings through `get_settings()`; tests
construct `Settings(...)` directly and hand it to `bootstrap.build_services`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HOME = Path(".aftercare")
_PLACEHOLDERS = {"changeme", "change-me", "secret", "xxx", "todo"}
# Signs links only where `environment` is "development" (the demo, the tests): anywhere else a missing link
# secret refuses to start (see aftercare/secrets_check.py), so this value can never sign a real customer's link.
DEVELOPMENT_LINK_SECRET = "aftercare-local-development-link-secret"
KiB = 1024


class JourneyTimings(BaseSettings):
    """When each step is due, relative to the event that starts it (hours or days as named)."""

    model_config = SettingsConfigDict(env_prefix="AFTERCARE_JOURNEY_", extra="ignore")

    cancel_window_hours: float = 2.0
    delay_grace_hours: float = 12.0
    setup_guide_days: float = 1.0
    csat_days: float = 3.0
    review_after_happy_csat_days: float = 2.0
    review_without_csat_days: float = 14.0
    review_after_recovery_days: float = 1.0
    winback_lapse_days: float = 90.0
    winback_sequence_days: tuple[float, float, float] = (0.0, 7.0, 21.0)
    points_expiry_reminder_days: tuple[float, float] = (30.0, 7.0)
    goodwill_points: int = 200
    points_per_currency_unit: float = 1.0
    points_reward_threshold: int = 500
    # Per currency (aftercare/domain/points.py): JSON, e.g. {"KRW": {"per_unit": 0.001, "goodwill": 300}}.
    # Built-in currencies (USD EUR GBP KRW SAR AED BRL JPY) earn comparable points without it.
    points_by_currency: dict[str, dict[str, float]] = Field(default_factory=dict)

    # After it arrives (issue 14): each step can be switched off (`AFTERCARE_JOURNEY_<NAME>_ENABLED=false`).
    review_reminder_enabled: bool = True
    review_reminder_days: float = 7.0
    review_request_per_product_days: float = 365.0  # one request per product per this many days, across orders
    review_photo_prompt_vip: bool = False  # ask VIP customers for a photo or video with their review
    tier_up_notice_enabled: bool = True
    tier_down_notice: bool = False  # a notice on a tier drop too (off: none)
    points_statement_enabled: bool = True
    points_statement_active_days: float = 183.0  # only customers with an order in this window
    points_statement_quiet_days: float = 7.0  # ...and no loyalty email in this window
    referral_invite_enabled: bool = True
    referral_bonus_enabled: bool = True
    referral_bonus_points: int = 250
    review_points_enabled: bool = True
    review_points: int = 50
    restock_reminder_enabled: bool = True
    replenishment_lead_days: float = 5.0  # remind this many days before a product runs out
    replenishment_late_days: float = 14.0  # past this after it ran out, a reminder is stale: skipped
    # The product's median reorder interval stands in for a missing use cycle once this many customers of the
    # store have bought it more than once (0: never; use cycles from the catalog only).
    replenishment_min_repeat_buyers: int = 20
    renewal_reminder_enabled: bool = True
    renewal_reminder_days: float = 3.0  # the renewal reminder, this many days before each renewal
    payment_failed_notice_enabled: bool = True
    exchange_offer_enabled: bool = True
    exchange_bonus_kind: Literal["flat", "percent"] = "percent"  # the bonus on store credit taken instead
    exchange_bonus_value: float = 10.0  # percent of the return's value, or a flat amount in its currency

    # Before it arrives (issue 13): each step can be switched off; failed attempt and out-for-delivery are
    # off by default (they are news, not a slip). Stalled: no tracking progress for this many days.
    order_page_enabled: bool = True  # the confirmation's signed order link (status, report a problem, cancel)
    dispatch_delay_enabled: bool = True
    transit_stalled_enabled: bool = True
    transit_stalled_days: float = Field(default=3.0, gt=0)
    transit_stalled_skip_weekends: bool = False
    carrier_exception_notice_enabled: bool = True
    failed_attempt_notice_enabled: bool = False
    out_for_delivery_notice_enabled: bool = False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AFTERCARE_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = Field(
        default="production",
        description=(
            "production (the default) refuses to start `serve`, `sweep` and the flows with a missing, placeholder "
            "or short link or webhook secret. development (what `aftercare demo` and the tests set) signs links "
            "with a built-in secret; never use it where real customers get links."
        ),
    )
    home: Path = DEFAULT_HOME
    database_url: str | None = Field(
        default=None, description="Any SQLAlchemy URL; defaults to a SQLite file under `home`."
    )
    public_base_url: str = "http://127.0.0.1:8000"
    link_secret: SecretStr | None = Field(
        default=None, description="Signs customer links; at least 32 bytes. Only development may leave it unset."
    )
    link_ttl_days: int = 30
    store_name: str = "Aftercare Demo Store"
    support_email: str = "support@example.com"
    consent_copy_version: str = Field(
        default="2026-11-30",
        max_length=32,
        description="The version of the preferences and unsubscribe pages' text, kept with every choice made "
        "on them (GDPR Art. 7(1) evidence). Change it whenever that text changes.",
    )

    # Marketing guards
    frequency_cap_hours: float = 24.0
    frequency_cap_messages: int = 1
    quiet_hours_start: int = 8  # local hour when marketing SMS may start
    quiet_hours_end: int = 21  # local hour when marketing SMS must stop
    strict_csat_only: bool = Field(
        default=False,
        description=(
            "Ask for reviews only from customers who answered CSAT 4-5. OFF by default: FTC guidance and "
            "Google's review policy forbid soliciting reviews only from customers expected to be happy "
            "(review gating). Turn on only if you understand and accept that risk."
        ),
    )
    holdout_share: float = 0.05
    recovery_window_days: float = Field(
        default=7.0, gt=0,
        description=(
            "How long an open service-recovery case (after a CSAT 1-2) holds the customer's review request and "
            "promotions. A case still open after it releases them and is flagged in `status` and the daily report."
        ),
    )
    holdout_salt: str = "aftercare"

    # Jurisdictions (aftercare/domain/jurisdictions.py): local hours and what advertising must carry.
    transactional_sms_start_hour: int = Field(
        default=8, ge=0, le=23,
        description="Non-urgent transactional SMS (shipped, delivered) wait for this local hour; urgent ones "
                    "(a delay, a failed delivery) are sent at once.",
    )
    transactional_sms_end_hour: int = Field(
        default=21, ge=1, le=24, description="Non-urgent transactional SMS after this local hour wait for the morning.",
    )
    store_postal_address: str = Field(
        default="",
        description="The store's physical postal address, shown in every marketing email (CAN-SPAM). In "
                    "production a marketing email to a US customer is skipped (no_postal_address) without it.",
    )
    sender_contact: str = Field(
        default="",
        description="The sender's contact shown in advertising (a phone number or address; Korea requires the "
                    "sender's name and contact). In production Korean ads are skipped (no_sender_contact) without it.",
    )
    sms_opt_out_number: str = Field(
        default="",
        description="A free number to refuse advertising SMS (Korea: an 080 number). In production Korean ad SMS "
                    "are skipped (no_opt_out_number) without it.",
    )

    # Win-back timing: which lapse rule times winback_1 (see aftercare/winback/store.py).
    winback_rule: Literal["fixed", "bgnbd", "cadence"] = Field(
        default="fixed",
        description=(
            "fixed: the journey's winback_lapse_days after delivery. bgnbd / cadence: the customer's own "
            "lapse day from the fit `aftercare fit-winback` recorded in winback_rule_file (customers with "
            "fewer than 3 purchase days keep the fixed window). On CDNOW BG/NBD's F1 lead was small."
        ),
    )
    winback_rule_file: Path | None = Field(default=None, description="Defaults to <home>/winback_rule.json.")

    # Sweep
    sweep_batch_size: int = 500
    sweep_lease_seconds: int = 300
    sweep_max_batches: int = 10_000
    # Batches one sweep flow keeps in flight (Prefect task runner threads): while one batch waits on the
    # providers or the database, another claims, loads and renders. 1 = one batch after another. Measured
    # (docs/scaling.md): 2 is faster than 1 on Postgres and with provider latency, and no slower on SQLite.
    sweep_concurrency: int = Field(default=2, ge=1, le=16)
    # Child processes that render a sweep's messages (aftercare/services/render_pool.py), so rendering runs on
    # another core than the sweep's own Python work. 0 = render in the sweep's process (tests; one core).
    sweep_render_processes: int = Field(default=0, ge=0, le=16)

    # Providers: the local outbox unless credentials are configured.
    outbox_dir: Path | None = None
    email_from: str = "orders@example.com"
    sendgrid_api_key: SecretStr | None = None
    sendgrid_api_key_block: str | None = Field(
        default=None, description="Name of a Prefect Secret block holding the SendGrid API key."
    )
    sendgrid_api_url: str = "https://api.sendgrid.com"
    sendgrid_unsubscribe_group_id: int | None = None
    sendgrid_timeout_seconds: float = 10.0
    sendgrid_webhook_public_key: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_auth_token_block: str | None = Field(
        default=None, description="Name of a Prefect Secret block holding the Twilio auth token."
    )
    twilio_timeout_seconds: float = 10.0
    sms_default_region: str | None = Field(
        default=None, description="ISO country code for reading numbers stored without a leading +."
    )
    twilio_messaging_service_sid: str | None = None
    twilio_from_number: str | None = None
    twilio_api_url: str | None = None
    twilio_status_callback_url: str | None = None
    email_rate_per_second: float = 100.0
    sms_rate_per_second: float = 1.0
    redis_url: str | None = None

    # Reconciling `unknown` outcomes (aftercare/services/reconcile.py, `aftercare reconcile`).
    reconcile_email_window_hours: float = Field(
        default=1.0, gt=0,
        description="An unknown email with no SendGrid event this long after the attempt was never accepted.",
    )
    reconcile_webhook_live_hours: float = Field(
        default=3.0, gt=0,
        description="The SendGrid event webhook counts as live if an event was stored this recently; else "
                    "unknown emails are listed for the operator instead of resent.",
    )
    reconcile_sms_after_minutes: float = Field(
        default=30.0, gt=0, description="Ask Twilio about an unknown SMS once the attempt is this old.",
    )

    # Webhooks
    shopify_webhook_secret: SecretStr | None = None
    shopify_webhook_secret_previous: SecretStr | None = None
    shopify_shop_domain: str | None = None
    shopify_admin_token: SecretStr | None = None
    shopify_api_version: str = "2026-01"
    shopify_default_timezone: str = Field(
        default="UTC", description="Customer time zone when a Shopify order's address gives no better guess."
    )
    # History import (`aftercare import shopify`)
    import_page_size: int = Field(default=250, ge=1, le=250, description="Records per Admin API page (250 at most).")
    import_max_retries: int = Field(
        default=5, ge=0, description="Retries of a page Shopify answers 429 (or 503), each after its Retry-After."
    )
    twilio_webhook_base_url: str | None = Field(
        default=None,
        description=(
            "The public base URL Twilio calls (e.g. https://hooks.example.com); Twilio signs that URL, which "
            "differs from the one the app sees behind a proxy. Defaults to `public_base_url`."
        ),
    )
    sendgrid_webhook_max_age_seconds: float = 900.0
    helpdesk_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Signs POST /webhooks/helpdesk (HMAC-SHA256 of the raw body, hex, in X-Aftercare-Signature).",
    )
    csat_reply_window_days: float = 7.0
    # Request bodies larger than these are refused with 413 before they are read (see webhooks/bodies.py).
    max_body_bytes_shopify: int = Field(default=2048 * KiB, ge=1, description="Shopify webhook bodies.")
    max_body_bytes_sendgrid: int = Field(
        default=4096 * KiB, ge=1, description="SendGrid event batches (up to ~1,000 events each)."
    )
    max_body_bytes_twilio: int = Field(default=64 * KiB, ge=1, description="Twilio SMS and status callbacks.")
    max_body_bytes_links: int = Field(default=16 * KiB, ge=1, description="The CSAT, unsubscribe, preferences forms.")

    # Where review and referral links lead (see webhooks/redirects.py). Only http(s) URLs are accepted.
    review_url_template: str | None = Field(
        default=None,
        description=(
            "The review destination for one product: placeholders {product_id} and {handle}, e.g. "
            "https://shop.example/products/{handle}#reviews or a review app's write-review URL."
        ),
    )
    review_fallback_url: str | None = Field(
        default=None,
        description="Where a review link goes when the template cannot be filled (no product, no handle known).",
    )
    referral_url_template: str | None = Field(
        default=None,
        description="The store's referral landing page with the referrer's code: e.g. https://shop.example/r/{code}.",
    )
    returns_portal_url_template: str | None = Field(
        default=None,
        description=(
            "Where an exchange offer's signed links land: placeholders {return_id}, {choice} (exchange or credit) "
            "and {token} (our signed token), e.g. https://shop.example/returns/{return_id}?choose={choice}&t={token}."
        ),
    )
    # Cross-sell (aftercare/services/cross_sell.py): never a returned, owned, 1-2 star or out-of-stock product,
    # nor one in the category of an item returned in this window; one promotional block per message at most.
    cross_sell_returned_category_days: float = 30.0
    cross_sell_in_transactional: bool = Field(
        default=False, description="Cross-sell in transactional mail too. Off: none there (the default).")
    subscription_portal_url_template: str | None = Field(
        default=None,
        description=(
            "The store's subscription portal, where a renewal reminder's and a failed-payment notice's signed links "
            "land: placeholders {subscription_id}, {action} (skip, swap, reschedule, cancel, payment) and {token} "
            "(our signed token, which the portal may verify with the link secret to sign the customer in), e.g. "
            "https://shop.example/portal/{subscription_id}?do={action}&t={token}."
        ),
    )

    # Messages' wording and look (issue 15). A store's own catalogs, merged over ours (later ones win), each
    # holding <locale>/LC_MESSAGES/messages.po: reword any message in any language, or add a language,
    # without copying a template. From AFTERCARE_CATALOG_DIRS as a JSON list.
    catalog_dirs: tuple[Path, ...] = ()
    brand_color: str = Field(default="#0f766e", pattern=r"^#[0-9a-fA-F]{6}$",
                             description="The store's colour for buttons and links in emails (#rrggbb).")
    logo_url: str | None = Field(default=None, description="An https URL of the store's logo for email headers.")
    shop_url: str | None = Field(default=None, description=(
        "The storefront (https://shop.example): win-back and points emails get a 'shop' button, with the offer "
        "code applied through <shop_url>/discount/<code> (Shopify's shareable discount link)."))

    # Before it arrives (issue 13): the promise known at order time, the order page, the product catalog.
    promise_note_attribute: str | None = Field(
        default="delivery_promise",
        description="The order note attribute holding the promised delivery day (YYYY-MM-DD or ISO time).")
    promise_metafield: str | None = Field(
        default="aftercare.delivery_promise",
        description="The order metafield (namespace.key) holding the promised delivery day, read when present.")
    promise_days_by_shipping_method: dict[str, float] = Field(
        default_factory=dict,
        description="Days from the order to the promised day per shipping method code or title, e.g. "
                    '{"standard": 5, "express": 2}; used when the order carries no promise of its own.')
    return_policy_summary: dict[str, str] = Field(
        default_factory=dict,
        description="The return and exchange policy summary shown in the confirmation, per locale "
                    '(e.g. {"en": "Free returns within 30 days."}); English is the fallback.')
    order_cancel_after_late_promise: bool = Field(
        default=True,
        description="An unshipped order whose promised day has passed may be cancelled from the order page, "
                    "even after the cancel window.")
    catalog_metafield_namespace: str = "aftercare"
    catalog_metafield_keys: dict[str, str] = Field(
        default_factory=lambda: {"setup_instructions": "setup_instructions", "video_url": "setup_video",
                                 "use_cycle_days": "use_cycle_days", "review_url": "review_url"},
        description="Which product metafield (key in `catalog_metafield_namespace`) fills which catalog field; "
                    "a key suffixed with _<locale> (setup_instructions_ko) is that locale's version.")
    catalog_page_size: int = Field(default=100, ge=1, le=250)
    shopify_timeout_seconds: float = 10.0

    # Test-only (see aftercare/providers/faults.py): crash a sweep once after this many sends.
    fault_after_sends: int | None = None
    fault_once_file: Path | None = None

    # Which journey every process runs (aftercare/journeys/loading.py): `package.module:attribute` (a Journey,
    # or a function of the settings returning one) or the name of an `aftercare.journeys` entry point.
    # Read from AFTERCARE_JOURNEY; the timings below are AFTERCARE_JOURNEY_* (their own settings class).
    journey_ref: str | None = Field(default=None, validation_alias=AliasChoices("AFTERCARE_JOURNEY", "journey_ref"))
    journey: JourneyTimings = Field(default_factory=JourneyTimings,
                                    validation_alias=AliasChoices("journey", "AFTERCARE_JOURNEY_TIMINGS"))
    events_webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 secret of the store events endpoint, POST /webhooks/events.")

    @field_validator("shopify_default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        """A zone is checked here, at start, not found wrong later by every confirmation that shows a time."""
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"AFTERCARE_SHOPIFY_DEFAULT_TIMEZONE={value!r} is not an IANA time zone; "
                "use a name such as 'UTC' or 'America/New_York'"
            ) from None
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        for name in ("link_secret", "sendgrid_api_key", "twilio_auth_token", "shopify_webhook_secret",
                     "events_webhook_secret", "helpdesk_webhook_secret"):
            value = getattr(self, name)
            if value is not None and value.get_secret_value().strip().lower() in _PLACEHOLDERS:
                raise ValueError(f"{name} is a placeholder; set a real secret")
        for name, fields in (
            ("review_url_template", REVIEW_FIELDS),
            ("review_fallback_url", ()),
            ("referral_url_template", REFERRAL_FIELDS),
            ("subscription_portal_url_template", SUBSCRIPTION_FIELDS),
            ("returns_portal_url_template", RETURNS_FIELDS),
        ):
            template = getattr(self, name)
            if template is not None:
                check_url_template(name, template, fields)
        if not 0.0 <= self.holdout_share < 1.0:
            raise ValueError("holdout_share must be in [0, 1)")
        if not 0 <= self.quiet_hours_start < self.quiet_hours_end <= 24:
            raise ValueError("quiet hours must satisfy 0 <= start < end <= 24")
        if not self.transactional_sms_start_hour < self.transactional_sms_end_hour:
            raise ValueError("transactional SMS hours must satisfy start < end")
        return self

    @property
    def link_signing_key(self) -> bytes:
        """The link secret; in development only, the built-in one when none is set."""
        if self.link_secret is not None:
            return self.link_secret.get_secret_value().encode()
        if self.environment == "development":
            return DEVELOPMENT_LINK_SECRET.encode()
        raise ValueError("AFTERCARE_LINK_SECRET is not set (only AFTERCARE_ENVIRONMENT=development may omit it)")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'aftercare.db').as_posix()}"

    @property
    def resolved_winback_rule_file(self) -> Path:
        return self.winback_rule_file or self.home / "winback_rule.json"

    @property
    def resolved_outbox_dir(self) -> Path:
        return self.outbox_dir or self.home / "outbox"

    @property
    def uses_sendgrid(self) -> bool:
        return self.sendgrid_api_key is not None or self.sendgrid_api_key_block is not None

    @property
    def uses_twilio(self) -> bool:
        has_token = self.twilio_auth_token is not None or self.twilio_auth_token_block is not None
        return self.twilio_account_sid is not None and has_token


REVIEW_FIELDS = ("product_id", "handle")
REFERRAL_FIELDS = ("code",)
SUBSCRIPTION_FIELDS = ("subscription_id", "action", "token")
RETURNS_FIELDS = ("return_id", "choice", "token")


def check_url_template(name: str, template: str, fields: tuple[str, ...]) -> None:
    """An absolute http(s) URL whose only placeholders are `fields`; a redirect can then only go where the
    operator configured it (a signed link cannot name its own destination: no open redirect)."""
    try:
        sample = template.format(**{f: "x" for f in fields})
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"{name}: only the placeholders {', '.join(fields) or '(none)'} are allowed") from exc
    parts = urlsplit(sample)
    if parts.scheme not in ("http", "https") or not parts.netloc or "{" in parts.netloc:
        raise ValueError(f"{name} must be an absolute http(s) URL")
    if any("{" + f + "}" in urlsplit(template).netloc for f in fields):
        raise ValueError(f"{name}: placeholders may not be in the host")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings for this process, read once from the environment."""
    return Settings()
