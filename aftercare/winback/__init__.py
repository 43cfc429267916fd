"""Win-back timed to the customer: lapse rules, the CDNOW backtest that chooses between them, its CLI.

`rules` is pure (dates in, dates out); `data` reads the CDNOW transactions shipped in the `lifetimes`
wheel; `backtest` scores the rules on them and `choose_rule` picks the one the engine uses.
"""

from aftercare.winback.rules import BgNbdRule, CadenceRule, FixedWindowRule, LapseRule

__all__ = ["BgNbdRule", "CadenceRule", "FixedWindowRule", "LapseRule"]
