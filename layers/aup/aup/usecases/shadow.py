"""Shadow mode: a candidate policy decides every finding beside the live one, recorded, never enforced.

After the live decision commits (``aup.usecases.enforce``), the same findings run through
``engine.decide`` under the candidate, on the account's *shadow state* (``ACCOUNT#<id> /
SHADOWSTATE``: seeded from the live state as it was before the first shadowed change, then its own),
and each finding's pair of decisions is written as ``ACCOUNT#<id> / SHADOW#<detected>#<vid>`` (TTL
``SHADOW_TTL``). Nothing here writes the STATE or KEY items, so the authorizer never sees a shadow
decision. ``aupctl policy shadow-report`` reads the pairs back; ``divergences`` is its core.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aup.domain.engine import decide, new_account
from aup.domain.models import AccountState, Finding, Outcome
from aup.domain.ports import ShadowDecision, ShadowStore
from aup.policy import Policy

SHADOW_TTL = timedelta(days=90)
MAX_ATTEMPTS = 5  # the shadow path gives up (and is counted) rather than compete with the live one
NONE = "none"


@dataclass(frozen=True)
class Shadow:
    """A candidate policy source and what to do when the shadow path fails (log and count)."""

    policy: Callable[[], Policy | None]  # None: no candidate configured right now
    on_error: Callable[[str, Exception], None]


def labels(outcome: Outcome) -> dict[str, tuple[str, datetime | None]]:
    """violation id -> (decision label, suspension end) of an outcome's decisions."""
    return {d.violation_id: (d.label, d.until) for d in outcome.decisions}


def evaluate(
    store: ShadowStore,
    candidate: Policy,
    account_id: str,
    findings: Sequence[Finding],
    live: Outcome,
    live_before: AccountState | None,
    seed: AccountState | None,
    live_policy_version: str,
    now: datetime,
) -> Outcome | None:
    """Decide ``findings`` under ``candidate`` on the shadow state and record each pair of decisions.

    ``seed`` is the shadow state read before the live commit (None: none yet, start from
    ``live_before``, the live state before this change). Returns the shadow outcome (None: nothing
    recorded, every finding had been shadowed before).
    """
    live_labels = labels(live)
    pending = {f.violation_id: f for f in findings}
    expected = seed.version if seed is not None else None
    state = seed
    for _ in range(MAX_ATTEMPTS):
        if state is None:
            base = live_before or new_account(account_id, candidate, now)
            start = base.model_copy(deep=True)
        else:
            start = state
        outcome = decide(start, list(pending.values()), candidate, now)
        shadow_labels = labels(outcome)
        decisions = []
        for vid, f in pending.items():
            live_label, _ = live_labels.get(vid, (NONE, None))
            shadow_label, until = shadow_labels.get(vid, (NONE, None))
            decisions.append(
                ShadowDecision(
                    account_id=account_id,
                    violation_id=vid,
                    rule_id=f.rule_id,
                    detected_at=f.detected_at,
                    live=live_label,
                    shadow=shadow_label,
                    live_policy_version=live_policy_version,
                    shadow_policy_version=candidate.policy_version,
                    recorded_at=now,
                    shadow_until=until,
                )
            )
        conflict = store.commit_shadow(outcome.state, expected, decisions, SHADOW_TTL)
        if conflict is None:
            return outcome
        for vid in conflict.duplicates:
            pending.pop(vid, None)
        if not pending:
            return None
        state = store.get_shadow_state(account_id)
        expected = state.version if state is not None else None
    raise RuntimeError(f"shadow decisions for {account_id}: too many concurrent changes")


@dataclass
class AccountDivergence:
    account_id: str
    decisions: int = 0
    diverged: list[ShadowDecision] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "decisions": self.decisions,
            "diverged": [
                {
                    "violation_id": d.violation_id,
                    "rule_id": d.rule_id,
                    "detected_at": d.detected_at.isoformat(),
                    "live": d.live,
                    "shadow": d.shadow,
                    "shadow_until": d.shadow_until.isoformat() if d.shadow_until else None,
                    "live_policy_version": d.live_policy_version,
                    "shadow_policy_version": d.shadow_policy_version,
                }
                for d in self.diverged
            ],
        }


def divergences(store: ShadowStore, account_ids: Sequence[str], since: datetime) -> list[AccountDivergence]:
    """Per account, its shadow decisions since ``since`` and those where live and shadow differ."""
    out = []
    for account_id in account_ids:
        items = store.list_shadow_decisions(account_id, since)
        if not items:
            continue
        out.append(AccountDivergence(account_id, len(items), [d for d in items if d.diverged]))
    return out


def summary(report: Sequence[AccountDivergence]) -> Mapping[str, int]:
    return {
        "accounts": len(report),
        "decisions": sum(a.decisions for a in report),
        "diverged": sum(len(a.diverged) for a in report),
        "accounts_diverged": sum(1 for a in report if a.diverged),
    }
