"""`new_context` is `MessageContext(**values)`: the same instance, field order, defaults and errors."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from aftercare.frozen import can_build
from aftercare.rendering.context import MessageContext, sample_context
from aftercare.services.message_context import new_context


def _values(ctx: MessageContext, *, without: tuple[str, ...] = ()) -> dict[str, object]:
    return {f.name: getattr(ctx, f.name) for f in dataclasses.fields(ctx) if f.name not in without}


def test_the_shortcut_is_taken_for_the_context_as_it_is() -> None:
    assert can_build(MessageContext)


@pytest.mark.parametrize("without", [(), ("csat_links", "payload", "extra", "carrier", "ad_prefix")])
def test_the_same_instance_as_the_constructor(without: tuple[str, ...]) -> None:
    values = _values(sample_context("shipped", marketing=True), without=without)
    fast, slow = new_context(dict(values)), MessageContext(**values)
    assert fast == slow
    assert list(vars(fast).items()) == list(vars(slow).items())  # every field, in declaration order
    assert pickle.loads(pickle.dumps(fast)) == slow  # the render pool ships contexts to other processes
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.step = "other"  # type: ignore[misc]


def test_each_context_gets_its_own_default_containers() -> None:
    values = _values(sample_context("shipped"), without=("csat_links", "payload", "extra"))
    a, b = new_context(dict(values)), new_context(dict(values))
    assert a.csat_links == {} and a.csat_links is not b.csat_links and a.extra is not b.extra


def test_a_missing_or_unknown_field_fails_as_the_constructor_does() -> None:
    values = _values(sample_context("shipped"))
    with pytest.raises(TypeError):
        new_context({k: v for k, v in values.items() if k != "order_number"})
    with pytest.raises(TypeError):
        new_context({**values, "no_such_field": 1})
