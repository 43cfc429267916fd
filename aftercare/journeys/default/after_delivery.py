"""After delivery: the setup guide, the CSAT survey, and service recovery after an unhappy answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aftercare.domain.decisions import Skip
from aftercare.domain.view import StepView
from aftercare.domain.vocabulary import Reason
from aftercare.journeys import events
from aftercare.journeys.conditions import delivered, kept_items
from aftercare.journeys.message import MessageView
from aftercare.journeys.step import Step, days, email, marketing, sms, step, transactional
from aftercare.services.recovery import resolve_link
from aftercare.settings import JourneyTimings

SETUP_GUIDE = "setup_guide"
CSAT = "csat"
SERVICE_RECOVERY = "service_recovery"
RECOVERY_NOTICE = "recovery_notice"  # to support: a case opened, with a signed link that resolves it


def _not_answered(view: StepView, now: datetime) -> Skip | None:
    return Skip(Reason.CSAT_ALREADY_ANSWERED) if view.order.csat_answered_at is not None else None


def _csat_links(msg: MessageView) -> dict[str, Any]:
    return {"csat_links": msg.links.csat_links(msg.order_id, msg.now)}


def _goodwill(msg: MessageView) -> dict[str, Any]:
    return {"goodwill_points": msg.goodwill_points}


def _recovery_notice_data(msg: MessageView) -> dict[str, Any]:
    """The CSAT score and the signed resolve link, for support's recovery notice."""
    if msg.recovery_case_id is None:
        return {"goodwill_points": msg.goodwill_points}
    return {"goodwill_points": msg.goodwill_points, "csat_score": msg.csat_score,
            "recovery_resolve_url": resolve_link(msg.links, msg.recovery_case_id, msg.now)}


def _case_still_open(view: StepView, now: datetime) -> Skip | None:
    """Not needed once the case is resolved (support closed it before the sweep came round)."""
    return Skip(Reason.NOT_NEEDED) if view.order.recovery_resolved_at is not None else None


def setup_guide(t: JourneyTimings) -> Step:
    return step(SETUP_GUIDE, marketing, channels=(email,), on=events.DELIVERED, after=days(t.setup_guide_days),
                check=(delivered, kept_items), expires=days(7), cross_sell=True,
                purpose_text="per-product instructions and videos")


def csat(t: JourneyTimings) -> Step:
    return step(CSAT, marketing, channels=(sms, email), on=events.DELIVERED, after=days(t.csat_days),
                check=(delivered, _not_answered), template_data=_csat_links, expires=days(7), sms_segments=2,
                tags=("survey",), purpose_text="SMS: reply 1-5; email: one signed link per score")


def service_recovery(t: JourneyTimings) -> Step:
    return step(SERVICE_RECOVERY, transactional, channels=(email,), on=events.CSAT_UNHAPPY,
                template_data=_goodwill, expires=days(3),
                purpose_text="apology, goodwill points, support follow-up flag")


def recovery_notice(t: JourneyTimings) -> Step:
    return step(RECOVERY_NOTICE, transactional, channels=(email,), on=events.CSAT_UNHAPPY, to_support=True,
                check=_case_still_open, template_data=_recovery_notice_data, expires=days(7),
                purpose_text="to support: a recovery case opened, with a signed link that resolves it")


STEPS = (setup_guide, csat, service_recovery, recovery_notice)
