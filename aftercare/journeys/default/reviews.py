"""Reviews: the review request, routed and timed by the CSAT answer, never gated on it by default.

FTC guidance and Google's review policy forbid soliciting reviews only from customers expected to be
happy. Unhappy customers wait for their service-recovery case to be resolved, or for the recovery window to
end, then are asked like everyone else. `strict_csat_only` (off by default) asks only customers who
answered happy: that is review gating, which exists only as an explicit choice.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from aftercare.domain.decisions import Decision, Defer, Skip
from aftercare.domain.view import StepView
from aftercare.domain.vocabulary import Reason
from aftercare.journeys import events
from aftercare.journeys.conditions import delivered, kept_items
from aftercare.journeys.message import MessageView
from aftercare.journeys.step import Step, days, email, marketing, on, sms, step
from aftercare.settings import JourneyTimings

REVIEW_REQUEST = "review_request"


def _review_gate(view: StepView, now: datetime) -> Decision | None:
    order, policy = view.order, view.policy
    if all(p in view.state.reviews for p in order.kept_product_ids):
        return Skip(Reason.ALREADY_REVIEWED)
    score = order.csat_score
    if policy.strict_csat_only and (score is None or score < policy.happy_min_score):
        return Skip(Reason.STRICT_CSAT_GATE)
    if score is not None and score <= policy.unhappy_max_score and order.recovery_resolved_at is None:
        # Until the case is resolved, or the recovery window ends (a case nobody closed must not gate them out).
        opened = order.recovery_opened_at or order.csat_answered_at
        if opened is not None and now < opened + policy.recovery_window:
            return Defer(opened + policy.recovery_window, Reason.AWAITING_RECOVERY)
    return None


def _review_links(msg: MessageView) -> dict[str, Any]:
    items = tuple(replace(i, review_url=msg.links.review(msg.order_id, i.product_id, msg.now)) for i in msg.items)
    return {"items": items, "review_url": msg.links.review(msg.order_id, None, msg.now)}


def review_request(t: JourneyTimings) -> Step:
    return step(
        REVIEW_REQUEST, marketing, channels=(email, sms),
        on=(on(events.DELIVERED, days(t.review_without_csat_days)),
            on(events.CSAT_HAPPY, days(t.review_after_happy_csat_days)),
            on(events.RECOVERY_RESOLVED, days(t.review_after_recovery_days))),
        check=(delivered, kept_items, _review_gate), template_data=_review_links, expires=days(30), sms_segments=3,
        tags=("review",), purpose_text="CSAT 4-5: 2 days after; 1-2: after recovery; no answer: 14 days",
    )


STEPS = (review_request,)
