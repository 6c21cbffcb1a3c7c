"""logs signal: the API Gateway access-log analyzer (clauses D1 D2 D5a D5b G1 W1 W5).

Kept import-light (the policy document imports ``aup.logs.settings``): ``replay`` and the analyzer are
loaded on first use.
"""

from typing import Any

__all__ = ["replay", "replay_decisions"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from aup.logs import backtest as _replay

        return getattr(_replay, name)
    raise AttributeError(name)
