"""Building frozen dataclasses at a fraction of their `__init__`'s cost, for the sweep's hot path.

The generated `__init__` of a frozen dataclass sets each field with `object.__setattr__`; for the sweep's
wide per-step objects (`MessageContext`: sixty fields, `CustomerState`: twenty-four) that is most of what
building them costs. `builder(cls)` returns a function that takes the field values as a dict and fills the
new instance's `__dict__` at once, the way `__init__` leaves it: every field in declaration order, the given
values over the defaults, a fresh value from each default factory. The result is the same instance
(equality, hash, repr, pickling, `dataclasses.replace`); a missing or unknown field raises the constructor's
own TypeError. A class the shortcut cannot serve exactly (no `__dict__`, a `__post_init__`, init-only or
non-init fields) gets its constructor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def can_build(cls: type) -> bool:
    """Whether `builder(cls)` takes the shortcut: a plain dataclass whose instances keep their fields in
    `__dict__` and whose `__init__` does nothing but set them."""
    if not dataclasses.is_dataclass(cls) or "__slots__" in vars(cls) or hasattr(cls, "__post_init__"):
        return False
    if not cls.__dataclass_params__.init or not _generated(cls.__init__):  # type: ignore[attr-defined]
        return False  # an __init__ of its own may do more than set the fields
    every = getattr(cls, "__dataclass_fields__", {})
    return all(f.init and f._field_type is dataclasses._FIELD for f in every.values())  # type: ignore[attr-defined]


def _generated(init: object) -> bool:
    """Whether `init` is the `__init__` the dataclass decorator wrote (compiled from generated source)."""
    code = getattr(init, "__code__", None)
    return code is not None and code.co_filename == "<string>"


def builder(cls: type[T]) -> Callable[[dict[str, Any]], T]:
    """`make(values)` == `cls(**values)`, built without the generated `__init__` (see the module's docstring).
    `values` is not kept (the instance gets a dict of its own)."""
    if not can_build(cls):
        return lambda values: cls(**values)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    template = {f.name: f.default for f in fields}  # every field, in declaration order
    factories = tuple((f.name, f.default_factory) for f in fields if f.default_factory is not dataclasses.MISSING)
    required = frozenset(f.name for f in fields
                         if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
    size = len(template)
    new = object.__new__
    set_state = object.__setattr__

    def make(values: dict[str, Any]) -> T:
        state = dict(template)
        state.update(values)
        if len(state) != size or not required <= values.keys():
            return cls(**values)  # raises the constructor's TypeError for the unknown or missing field
        for name, factory in factories:
            if name not in values:
                state[name] = factory()
        instance = new(cls)
        set_state(instance, "__dict__", state)
        return instance

    return make
