"""The one composition root: settings, database, clock, renderer and providers are put together here.

Flows, the CLI and the webhook app get their collaborators from `get_services()`; tests and the demo build
their own with `build_services(...)` (handing in fakes or a frozen clock) and install them with
`use_services(...)`. Clients are never flow parameters: deployments serialise parameters.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from aftercare.clock import Clock, SystemClock
from aftercare.db.engine import make_engine, make_session_factory, migrate
from aftercare.domain.decisions import Policy
from aftercare.domain.jurisdictions import Must
from aftercare.domain.points import points_table
from aftercare.journeys.journey import Journey
from aftercare.journeys.loading import load_journey
from aftercare.links import LinkSigner
from aftercare.providers.base import EmailSender, SmsSender
from aftercare.providers.outbox import OutboxEmailSender, OutboxSmsSender
from aftercare.rendering.renderer import Renderer
from aftercare.secrets_check import require_safe_secrets
from aftercare.services.cross_sell import CrossSeller
from aftercare.services.ingest import Ingest
from aftercare.services.message_context import ContextSettings
from aftercare.services.reconcile import Reconciler, windows_from
from aftercare.services.render_pool import RenderPool, build_renderer
from aftercare.services.sweep import Sweeper
from aftercare.settings import Settings, get_settings
from aftercare.winback.store import load_rule


@dataclass
class Services:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    clock: Clock
    journey: Journey
    policy: Policy
    renderer: Renderer
    email: EmailSender
    sms: SmsSender
    links: LinkSigner
    ingest: Ingest
    sweeper: Sweeper
    # The Shopify Admin API's HTTP transport (cancel from the order page, the catalog import): None is the
    # network; tests hand an httpx.MockTransport.
    shopify_transport: httpx.BaseTransport | None = None


log = logging.getLogger(__name__)


def policy_from(settings: Settings) -> Policy:
    return Policy(
        frequency_cap=timedelta(hours=settings.frequency_cap_hours),
        frequency_cap_messages=settings.frequency_cap_messages,
        quiet_start=settings.quiet_hours_start,
        quiet_end=settings.quiet_hours_end,
        strict_csat_only=settings.strict_csat_only,
        holdout_share=settings.holdout_share,
        holdout_salt=settings.holdout_salt,
        recovery_window=timedelta(days=settings.recovery_window_days),
        transactional_sms_start=settings.transactional_sms_start_hour,
        transactional_sms_end=settings.transactional_sms_end_hour,
        legal_details=legal_details(settings),
    )


def legal_details(settings: Settings) -> frozenset[Must]:
    """The advertising details the store has configured. Development (the demo, the tests) counts all as
    given, so a demo store without an address still shows its journey; production skips the ads it lacks."""
    if settings.environment == "development":
        return frozenset(Must)
    given = {Must.AD_PREFIX: True, Must.POSTAL_ADDRESS: bool(settings.store_postal_address.strip()),
             Must.SENDER_CONTACT: bool(settings.sender_contact.strip()),
             Must.OPT_OUT_NUMBER: bool(settings.sms_opt_out_number.strip())}
    missing = [_LEGAL_SETTING[m] for m, ok in given.items() if not ok]
    if missing:
        log.warning("%s unset: advertising to customers whose law requires it is skipped with a reason "
                    "(no_postal_address, no_sender_contact, no_opt_out_number)", ", ".join(missing))
    return frozenset(m for m, ok in given.items() if ok)


_LEGAL_SETTING = {Must.POSTAL_ADDRESS: "AFTERCARE_STORE_POSTAL_ADDRESS",
                  Must.SENDER_CONTACT: "AFTERCARE_SENDER_CONTACT", Must.OPT_OUT_NUMBER: "AFTERCARE_SMS_OPT_OUT_NUMBER"}


def _default_providers(settings: Settings) -> tuple[EmailSender, SmsSender]:
    """Real providers when credentials are configured, else the local outbox."""
    email: EmailSender | None = None
    sms: SmsSender | None = None
    try:
        from aftercare.providers.factory import build_email_sender, build_sms_sender
    except ImportError:  # adapters not installed: the outbox is always available
        pass
    else:
        email = build_email_sender(settings)
        sms = build_sms_sender(settings)
    outbox = settings.resolved_outbox_dir
    return email or OutboxEmailSender(outbox), sms or OutboxSmsSender(outbox)


def configured_journey(settings: Settings | None = None) -> Journey:
    """The journey this process runs, without building a database or providers: what the run-journey form
    offers as its step choices."""
    return load_journey(settings or get_settings())


def build_services(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    email: EmailSender | None = None,
    sms: SmsSender | None = None,
    renderer: Renderer | None = None,
    engine: Engine | None = None,
    migrate_db: bool = True,
    journey: Journey | None = None,
    shopify_transport: httpx.BaseTransport | None = None,
) -> Services:
    """Everything a process needs. The journey is `journey` if given, else the one `AFTERCARE_JOURNEY` names
    (the built-in journey by default), so every entry point runs the same one."""
    settings = settings or get_settings()
    engine = engine or make_engine(settings.resolved_database_url)
    if migrate_db:
        migrate(engine)
    session_factory = make_session_factory(engine)
    clock = clock or SystemClock()
    journey = journey or configured_journey(settings)
    policy = policy_from(settings)
    pool = None
    if renderer is None:
        renderer = build_renderer(settings, store_dirs=tuple(journey.template_dirs))
        if settings.sweep_render_processes > 0:  # the same renderer in child processes (a given one stays here)
            pool = RenderPool(settings, tuple(journey.template_dirs), settings.sweep_render_processes, renderer)
    if email is None or sms is None:
        default_email, default_sms = _default_providers(settings)
        email = email or default_email
        sms = sms or default_sms
    links = LinkSigner(settings.link_signing_key, settings.public_base_url,
                       timedelta(days=settings.link_ttl_days))
    timings = settings.journey
    points = points_table(per_dollar=timings.points_per_currency_unit, goodwill=timings.goodwill_points,
                          threshold=timings.points_reward_threshold, overrides=timings.points_by_currency)
    ingest = Ingest(journey=journey, points=points,
                    promise_days_by_method=settings.promise_days_by_shipping_method,
                    lapse_rule=load_rule(settings.winback_rule, settings.resolved_winback_rule_file,
                                         timings.winback_lapse_days),
                    winback_offset=timedelta(days=timings.winback_sequence_days[0]),
                    review_points=timings.review_points if timings.review_points_enabled else 0,
                    referral_bonus_points=timings.referral_bonus_points if timings.referral_bonus_enabled else 0)
    context_settings = ContextSettings(
        store_name=settings.store_name, support_email=settings.support_email,
        cancel_window=timedelta(hours=timings.cancel_window_hours), goodwill_points=timings.goodwill_points,
        reward_threshold=timings.points_reward_threshold,
        sender_contact=settings.sender_contact, postal_address=settings.store_postal_address,
        opt_out_number=settings.sms_opt_out_number, points=points,
        return_policy=settings.return_policy_summary,
    )
    sweeper = Sweeper(
        session_factory=session_factory, clock=clock, journey=journey, policy=policy, renderer=renderer,
        email=email, sms=sms, links=links, context_settings=context_settings, ingest=ingest,
        batch_size=settings.sweep_batch_size, lease=timedelta(seconds=settings.sweep_lease_seconds),
        cross_sell=CrossSeller(clock=clock.now,
                               returned_category_window=timedelta(days=settings.cross_sell_returned_category_days)),
        cross_sell_in_transactional=settings.cross_sell_in_transactional, render_pool=pool,
    )
    if settings.fault_after_sends is not None:
        _install_test_fault(sweeper, settings.fault_after_sends, settings.fault_once_file)
    return Services(settings, engine, session_factory, clock, journey, policy, renderer, sweeper.email, sweeper.sms,
                    links, ingest, sweeper, shopify_transport)


def _install_test_fault(sweeper: Sweeper, after: int, once_file: Path | None) -> None:
    """Test-only: the server test's sweep crashes once after `after` sends (see providers/faults.py)."""
    from aftercare.providers.faults import (
        CountingEmailSender,
        CountingSmsSender,
        SendCounter,
        crash_after_sends,
    )

    counter = SendCounter()
    sweeper.email = CountingEmailSender(sweeper.email, counter)
    sweeper.sms = CountingSmsSender(sweeper.sms, counter)
    sweeper.fault = crash_after_sends(counter, after, once_file)


def build_reconciler(services: Services) -> Reconciler:
    """The reconciler of `unknown` outcomes, on the services' own database, clock, sweep and SMS sender."""
    return Reconciler(session_factory=services.session_factory, clock=services.clock, journey=services.journey,
                      sweeper=services.sweeper, sms=services.sweeper.sms, windows=windows_from(services.settings))


_lock = threading.Lock()
_current: Services | None = None


def get_services() -> Services:
    """The services of this process: the installed ones, or built once from the environment (refused,
    outside development, with unsafe secrets: this is how `serve`, `sweep` and every flow get theirs)."""
    global _current
    with _lock:
        if _current is None:
            settings = get_settings()
            require_safe_secrets(settings)
            _current = build_services(settings)
        return _current


def installed_services() -> Services | None:
    """The services `use_services` installed (tests, the demo), if any: their settings are the ones in force."""
    return _current


@contextmanager
def use_services(services: Services) -> Iterator[Services]:
    """Install `services` for flows run inside the block (tests, the demo)."""
    global _current
    with _lock:
        previous, _current = _current, services
    try:
        yield services
    finally:
        with _lock:
            _current = previous
