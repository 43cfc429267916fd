"""What a step's `template_data` function sees when its message is rendered: ids, items, links, settings.

Signed links need the link signer, so they are made here, at render time, rather than in the pure
decision; everything else a template shows comes from the engine's `MessageContext`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aftercare.rendering.context import ItemView

if TYPE_CHECKING:
    from aftercare.links import LinkSigner
    from aftercare.services.message_context import ContextSettings


@dataclass(frozen=True)
class MessageView:
    step: str
    customer_id: int
    order_id: int
    now: datetime
    links: LinkSigner
    settings: ContextSettings
    order_placed_at: datetime
    items: tuple[ItemView, ...]  # the items the message is about, as the template shows them
    decision_data: Mapping[str, Any] = field(default_factory=dict)  # what the step's `data` returned
    occurrence: str = ""
    item: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    csat_score: int | None = None  # the order's CSAT answer, if any
    recovery_case_id: int | None = None  # the order's service-recovery case, if any
    goodwill_points: int = 0  # the case's recorded goodwill, else what the order's currency would give
    currency: str = ""  # the order's currency
