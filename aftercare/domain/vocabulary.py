"""Names shared by every layer: channels, purposes, step and message statuses, skip reasons."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class Purpose(StrEnum):
    TRANSACTIONAL = "transactional"
    MARKETING = "marketing"


class StepStatus(StrEnum):
    PENDING = "pending"  # waiting for its due time (and for a claim)
    WAITING = "waiting"  # waiting for an event (e.g. a service-recovery case to be resolved)
    DONE = "done"  # decided and carried out: sent, or skipped with a reason
    CANCELLED = "cancelled"  # stopped by an event before it was due (new order stops win-back)


class MessageStatus(StrEnum):
    RESERVED = "reserved"  # ledger row committed; the provider has not been called
    SENDING = "sending"  # the provider call may have started; a crash here makes the outcome unknown
    SENT = "sent"  # the provider accepted it; provider_message_id is set
    DELIVERED = "delivered"
    OPENED = "opened"
    CLICKED = "clicked"
    SKIPPED = "skipped"  # decided not to send; reason says why
    HELD_OUT = "held_out"  # eligible, but in the measurement holdout: never sent
    FAILED = "failed"  # the provider refused it for good; reason says why
    BOUNCED = "bounced"
    UNKNOWN = "unknown"  # the call may or may not have reached the provider: reconcile, never resend


# How far along a message is: provider events never move a message backwards.
MESSAGE_PROGRESS: dict[MessageStatus, int] = {
    MessageStatus.RESERVED: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.UNKNOWN: 2,
    MessageStatus.SENT: 3,
    MessageStatus.DELIVERED: 4,
    MessageStatus.OPENED: 5,
    MessageStatus.CLICKED: 6,
    MessageStatus.FAILED: 7,
    MessageStatus.BOUNCED: 7,
    MessageStatus.SKIPPED: 9,
    MessageStatus.HELD_OUT: 9,
}


class Reason(StrEnum):
    """Why a step was not sent (skip) or not sent yet (defer / wait). Stored with every decision.

    The engine's own reasons. A step's condition may return any other reason as a namespaced string
    (`"skincare.reordered"`); both are recorded, counted and explained the same way.
    """

    ORDER_CANCELLED = "order_cancelled"
    NO_MARKETING_CONSENT = "no_marketing_consent"
    NO_TRANSACTIONAL_CONSENT = "no_transactional_consent"
    UNSUBSCRIBED = "unsubscribed"
    EMAIL_BOUNCED = "email_bounced"
    SMS_STOPPED = "sms_stopped"
    INVALID_EMAIL = "invalid_email"
    INVALID_PHONE = "invalid_phone"
    NO_CHANNEL = "no_channel"
    QUIET_HOURS = "quiet_hours"
    FREQUENCY_CAP = "frequency_cap"
    EXPIRED = "expired"
    ITEMS_RETURNED = "items_returned"
    ALREADY_REVIEWED = "already_reviewed"
    AWAITING_RECOVERY = "awaiting_service_recovery"
    STRICT_CSAT_GATE = "strict_csat_gate"
    NOT_DELIVERED = "not_delivered"
    DELIVERED_ON_TIME = "delivered_on_time"
    ALREADY_DELIVERED = "already_delivered"  # a shipped notice superseded by the delivered notice
    POINTS_EXPIRED = "points_expired"  # a points reminder after the points are gone
    RECOVERY_OPEN = "service_recovery_open"  # a promotion held while the customer's recovery case is open
    NEW_ORDER = "new_order"
    CSAT_ALREADY_ANSWERED = "csat_already_answered"
    NOT_NEEDED = "not_needed"
    HOLDOUT = "holdout"
    MERGED = "merged_into_other_message"
    RECIPIENT_OPTED_OUT = "recipient_opted_out"
    PROVIDER_REJECTED = "provider_rejected"
    UNKNOWN_STEP = "unknown_step"  # a step in the database that the running journey no longer has
    # An imported order's step whose time had passed before we knew of the order: recorded, never sent.
    BACKFILLED = "backfilled"

    # Time zones and jurisdictions (aftercare/domain/zones.py, jurisdictions.py)
    INVALID_TIMEZONE = "invalid_timezone"  # an SMS timed to the customer's clock, whose zone is no zone
    NO_POSTAL_ADDRESS = "no_postal_address"  # marketing email where the law needs the store's address (CAN-SPAM)
    NO_SENDER_CONTACT = "no_sender_contact"  # an ad where the law needs the sender's contact (Korea)
    NO_OPT_OUT_NUMBER = "no_opt_out_number"  # an ad SMS where the law needs a free opt-out number (Korea)

    # Before it arrives (delay notices): one per slip, never after delivery.
    DELIVERED_LATE = "delivered_late"  # delivered after the promised day ended: late, but no notice now
    ALREADY_SHIPPED = "already_shipped"  # a pre-dispatch delay notice for an order that shipped
    NOT_SHIPPED = "not_shipped"  # a transit delay notice for an order still unshipped (pre-dispatch tells it)
    PROMISE_REVISED = "promise_revised"  # a notice about a promise a later estimate replaced
    SLIP_NOTIFIED = "slip_already_notified"  # another delay notice already told this slip
    TRACKING_MOVED = "tracking_progressed"  # the shipment moved: not stalled (yet)


class Scope(StrEnum):
    """What one occurrence of a step is about: exactly-once holds per (scope, step, occurrence)."""

    ORDER = "order"
    CUSTOMER = "customer"
    ITEM = "item"
