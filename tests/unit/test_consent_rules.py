"""The consent rules as a table: statements (in any order) -> the consent that holds."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from aftercare.domain.consent import ConsentSource, Statement, resolve
from aftercare.domain.vocabulary import Channel

T0 = datetime(2026, 3, 1, tzinfo=UTC)
S = ConsentSource


def said(granted: bool, source: ConsentSource, hours: float, seq: int, explicit: bool = True) -> Statement:
    return Statement(granted, source, T0 + timedelta(hours=hours), seq, explicit)


CASES = [
    # (channel, statements, granted, opted out)
    ("an older platform body never re-grants a newer revocation",
     Channel.EMAIL, [said(False, S.PLATFORM, 5, 1), said(True, S.PLATFORM, 1, 2)], False, False),
    ("a platform echo never overrides a choice made with us, however new",
     Channel.SMS, [said(False, S.PREFERENCES, 1, 1), said(True, S.PLATFORM, 9, 2, explicit=False)], False, True),
    ("a newer explicit platform statement does",
     Channel.SMS, [said(False, S.PREFERENCES, 1, 1), said(True, S.PLATFORM, 2, 2)], True, False),
    ("echoes count while nothing else was said",
     Channel.EMAIL, [said(True, S.PLATFORM, 1, 1, explicit=False)], True, False),
    ("START alone creates nothing",
     Channel.SMS, [said(True, S.SMS_KEYWORD, 1, 1)], None, None),
    ("STOP then START restores what was there",
     Channel.SMS, [said(True, S.CHECKOUT, 0, 1), said(False, S.SMS_KEYWORD, 1, 2), said(True, S.SMS_KEYWORD, 2, 3)],
     True, False),
    ("STOP blocks even a newer grant until START",
     Channel.SMS, [said(False, S.SMS_KEYWORD, 1, 1), said(True, S.PREFERENCES, 2, 2)], False, True),
    ("an unsubscribe is an opt-out; a platform revocation is only no consent",
     Channel.EMAIL, [said(True, S.CHECKOUT, 0, 1), said(False, S.UNSUBSCRIBE_LINK, 1, 2)], False, True),
    ("imported history never undoes a newer choice made with us",
     Channel.EMAIL, [said(False, S.PREFERENCES, 5, 1), said(True, S.IMPORT, 1, 2)], False, True),
    ("an imported echo (no time of its own) never overrides a choice, however new",
     Channel.SMS, [said(False, S.PREFERENCES, 1, 1), said(True, S.IMPORT, 9, 2, explicit=False)], False, True),
    ("an imported statement newer than our choice holds, at its own time",
     Channel.EMAIL, [said(False, S.PREFERENCES, 1, 1), said(True, S.IMPORT, 2, 2)], True, False),
]


@pytest.mark.parametrize(("name", "channel", "statements", "granted", "opted_out"), CASES,
                         ids=[c[0] for c in CASES])
def test_the_consent_that_holds_does_not_depend_on_arrival_order(name, channel, statements, granted, opted_out):
    for order in itertools.permutations(statements):
        resolved = resolve(channel, order)
        if granted is None:
            assert resolved is None
        else:
            assert resolved is not None and (resolved.granted, resolved.opted_out) == (granted, opted_out)
