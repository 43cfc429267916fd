"""`builder(cls)(values)` is `cls(**values)` for the sweep's frozen per-step objects (aftercare/frozen.py)."""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass, field

import pytest

from aftercare.domain.state import CustomerState, ItemState, OrderState
from aftercare.frozen import builder, can_build
from tests.builders import a_state


def _values(obj: object, without: tuple[str, ...] = ()) -> dict[str, object]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.name not in without}  # type: ignore[arg-type]


@pytest.mark.parametrize("without", [(), ("reviews", "facts", "consents", "night_marketing_consent")])
def test_a_customer_state_is_the_constructors(without: tuple[str, ...]) -> None:
    state = a_state(order=dataclasses.replace(a_state().order, items=(ItemState("sku-a"),)))
    values = _values(state, without)
    fast, slow = builder(CustomerState)(dict(values)), CustomerState(**values)
    assert fast == slow and hash(fast.order) == hash(slow.order)
    assert list(vars(fast).items()) == list(vars(slow).items())
    assert pickle.loads(pickle.dumps(fast)) == slow
    assert dataclasses.replace(fast, locale="ko") == dataclasses.replace(slow, locale="ko")
    assert fast.after_marketing_send(state.order.placed_at) == slow.after_marketing_send(state.order.placed_at)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.locale = "ko"  # type: ignore[misc]


def test_an_order_state_is_the_constructors_and_defaults_are_fresh() -> None:
    values = _values(a_state().order, ("items", "product_ids"))
    assert builder(OrderState)(dict(values)) == OrderState(**values)
    make = builder(CustomerState)
    a, b = make(_values(a_state(), ("facts",))), make(_values(a_state(), ("facts",)))
    assert a.facts == {} and a.facts is not b.facts


def test_missing_or_unknown_fields_fail_as_the_constructor_does() -> None:
    values = _values(a_state())
    with pytest.raises(TypeError):
        builder(CustomerState)({k: v for k, v in values.items() if k != "order"})
    with pytest.raises(TypeError):
        builder(CustomerState)({**values, "no_such_field": 1})


def test_a_class_the_shortcut_cannot_serve_gets_its_constructor() -> None:
    @dataclass(frozen=True)
    class Checked:
        n: int
        seen: list[int] = field(default_factory=list)

        def __post_init__(self) -> None:
            if self.n < 0:
                raise ValueError("negative")

    assert can_build(CustomerState) and can_build(OrderState) and not can_build(Checked)
    with pytest.raises(ValueError):
        builder(Checked)({"n": -1})
    assert builder(Checked)({"n": 1}) == Checked(1)


def test_a_dataclass_with_an_init_of_its_own_gets_its_constructor() -> None:
    @dataclass(frozen=True)
    class Counted:
        n: int

        def __init__(self, n: int) -> None:
            object.__setattr__(self, "n", n * 2)

    assert not can_build(Counted) and builder(Counted)({"n": 2}).n == 4
