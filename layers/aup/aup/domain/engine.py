"""The policy engine: (account state, findings, policy, now) -> decisions. Pure: no AWS, no clock.

It implements the enforcement ladder (docs/architecture.md#ladder) with the numbers of the policy document:
warn; strikes in a rolling window; a temporary suspension on the Nth strike or one ``high`` finding,
doubling on each repeat up to a cap; an indefinite suspension on a ``critical`` finding; review for
findings under the confidence bar, review-only rules and allowlisted accounts; dry-run records what
would have happened and changes no flag.

Time: a finding acts at its own event time (clamped to ``now`` so a future-dated line cannot
extend a suspension), so a replay of old events decides as it would have then. Findings are taken in
event-time order, and a temporary suspension is an *incident* in event time: a finding dated inside
one (or shortly before it) belongs to it, whether it arrives on time, late, replayed or out of order.

No suspension rests on one ambiguous signal: a ``threshold`` rule's finding suspends only when another
violation of the account corroborates it (``ladder.corroboration``); alone it is a strike or a review.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from aup.domain.models import (
    ANY_ACCOUNT,
    AccountState,
    Action,
    AuditEntry,
    Decision,
    Finding,
    Incident,
    Outcome,
    Review,
    ReviewRepeat,
    Severity,
    Status,
    Strike,
    Suspension,
    SuspensionKind,
)
from aup.policy import Policy, PolicyError, Rule

ENGINE_ACTOR = "aup-enforcer"
_SUSPENSIONS = frozenset({Action.suspend_temporary, Action.suspend_indefinite})


def new_account(account_id: str, policy: Policy, now: datetime, *, plan: str | None = None) -> AccountState:
    """State of an account first seen through a finding (or before its first write)."""
    return AccountState(
        account_id=account_id,
        plan=plan or policy.default_plan,
        registered=False,
        created_at=now,
        updated_at=now,
        allowlisted=account_id in policy.allowlist,
    )


def temporary_duration(policy: Policy, previous: int) -> timedelta:
    """Length of the next temporary suspension: base * factor**previous, capped (fail2ban's increment)."""
    ts = policy.ladder.temporary_suspension
    cap_hours = ts.max_days * 24
    # Cap the exponent first: factor**previous overflows floats long before it matters.
    hours = ts.base_hours
    for _ in range(previous):
        hours *= ts.factor
        if hours >= cap_hours:
            break
    return timedelta(hours=min(hours, cap_hours))


def decide(
    state: AccountState,
    findings: Iterable[Finding],
    policy: Policy,
    now: datetime,
    *,
    force: bool = False,
    actor: str = ENGINE_ACTOR,
) -> Outcome:
    """Run ``findings`` for one account through the ladder.

    ``force`` is an operator's confirmation of a review: the confidence bar, review-only flags and the
    allowlist no longer divert the finding to review. Raises PolicyError for a finding whose rule the
    policy does not know, and ValueError for a finding of another account.
    """
    current = state.model_copy(deep=True)
    decisions: list[Decision] = []
    reviews: list[Review] = []
    repeats: list[ReviewRepeat] = []
    audit: list[AuditEntry] = []
    seen = set(current.recent_violation_ids)
    next_version = state.version + 1

    # Event-time order (then violation id): the same findings in any delivery order decide alike.
    for finding in sorted(findings, key=lambda f: (f.detected_at, f.violation_id)):
        if finding.account_id != state.account_id:
            raise ValueError(f"finding for {finding.account_id!r} given to account {state.account_id!r}")
        vid = finding.violation_id
        if vid in seen:
            continue
        rule = policy.rule(finding.rule_id)
        if rule.clause != finding.clause:
            raise PolicyError(
                f"finding {finding.rule_id} says clause {finding.clause}, policy says {rule.clause}"
            )
        if not rule.enabled:
            continue
        seen.add(vid)
        current.recent_violation_ids.append(vid)
        step = _Step(current, finding, rule, policy, now, actor, next_version)
        step.run(force=force)
        decisions.extend(step.decisions)
        reviews.extend(step.reviews)
        repeats.extend(step.repeats)
        audit.extend(step.audit)

    repeats = _fold(repeats, reviews)
    _prune(current, policy, now)
    if decisions or reviews or repeats or audit:
        current.version = next_version
        current.updated_at = now
    return Outcome(state=current, decisions=decisions, reviews=reviews, repeats=repeats, audit=audit)


class _Step:
    """The ladder applied to one finding: the decisions, reviews and audit entries it leads to."""

    def __init__(
        self,
        current: AccountState,
        finding: Finding,
        rule: Rule,
        policy: Policy,
        now: datetime,
        actor: str,
        next_version: int,
    ) -> None:
        self.current, self.finding, self.rule, self.policy = current, finding, rule, policy
        self.now, self.actor, self.next_version = now, actor, next_version
        self.vid = finding.violation_id
        self.severity = finding.severity or rule.severity
        self.decisions: list[Decision] = []
        self.reviews: list[Review] = []
        self.repeats: list[ReviewRepeat] = []
        self.audit: list[AuditEntry] = []
        self.corroboration: tuple[str, ...] = ()  # the violations that corroborate this finding

    def decision(
        self, action: Action, reason: str, *, enforced: bool = True, until: datetime | None = None
    ) -> None:
        self.decisions.append(
            Decision(
                violation_id=self.vid,
                account_id=self.current.account_id,
                rule_id=self.finding.rule_id,
                clause=self.finding.clause,
                severity=self.severity,
                action=action,
                enforced=enforced,
                reason=reason,
                until=until,
                policy_version=self.policy.policy_version,
            )
        )

    def record_audit(self, action: str, reason: str, from_status: Status) -> None:
        self.audit.append(
            AuditEntry(
                account_id=self.current.account_id,
                at=self.now,
                actor=self.actor,
                action=action,
                reason=reason,
                violation_id=self.vid,
                from_status=from_status,
                to_status=self.current.effective_status(self.now),
                version=self.next_version,
                policy_version=self.policy.policy_version,
            )
        )

    def corroborated(self, at: datetime, dry: bool) -> bool:
        """Whether this finding may suspend: its rule is a signature or sustained by itself, or another
        violation of the account (another rule, or this rule in another window) lies within
        ``ladder.corroboration.within_hours`` of it. Sets ``self.corroboration`` to what corroborates."""
        rule, corr = self.rule, self.policy.ladder.corroboration
        if rule.basis != "threshold" or not corr.required:
            return True
        span = timedelta(hours=corr.within_hours)
        others = tuple(
            s.violation_id
            for s in self.current.strikes
            if s.violation_id != self.vid and abs(s.at - at) <= span and (dry or not s.dry_run)
        )
        self.corroboration = others[-1:]
        return bool(others)

    def strike_crossing(self, at: datetime, dry: bool) -> tuple[datetime, list[Strike]] | None:
        """Where the strike just added completes ``strikes_to_suspend`` in a window: the earliest strike
        at or after ``at`` whose window now holds enough strikes, with the strikes it counts."""
        ladder = self.policy.ladder
        horizon = at + timedelta(days=ladder.strike_window_days)
        for s in sorted(self.current.strikes, key=lambda s: (s.at, s.violation_id)):
            if at <= s.at < horizon and (dry or not s.dry_run):
                counted = self.current.counted_strikes(s.at, ladder.strike_window_days, include_dry_run=dry)
                if len(counted) >= ladder.strikes_to_suspend:
                    return s.at, counted
        return None

    def covering(self, at: datetime) -> str | None:
        """Why a suspension starting at ``at`` would be a second one for the same incident, or None."""
        lookback = timedelta(hours=self.policy.ladder.incident_lookback_hours)
        for incident in self.current.incidents:
            if incident.since - lookback <= at < incident.until:
                if at < incident.since:
                    # An earlier finding of the same burst: the incident starts where it would have
                    # started had the burst arrived in order.
                    return f"part of the incident of {self.reanchor(incident, at).since.isoformat()}"
                return f"part of the incident of {incident.since.isoformat()}"
        s = self.current.suspension
        if s is not None and self.current.enforced(self.now) and at >= s.since - lookback:
            end = s.until.isoformat() if s.until else "an operator lifts it"
            return f"already suspended until {end}"
        return None

    def reanchor(self, incident: Incident, at: datetime) -> Incident:
        """Move ``incident`` (and the suspension it imposed, if still current) to start at ``at``."""
        span = incident.until - incident.since
        moved = incident.model_copy(update={"since": at, "until": at + span})
        self.current.incidents = [moved if i == incident else i for i in self.current.incidents]
        s = self.current.suspension
        if s is not None and s.kind is SuspensionKind.temporary and s.since == incident.since:
            self.current.suspension = s.model_copy(update={"since": at, "until": at + span})
        return moved

    def insert_incident(self, since: datetime, basis: tuple[str, ...]) -> Incident:
        """Record a new incident in event order and give every incident from it on the duration its
        place in the doubling earns (a late, older incident lengthens the ones after it)."""
        current, policy = self.current, self.policy
        pruned = current.temporary_suspensions - len(current.incidents)  # forgotten ones still count
        placeholder = Incident(since=since, until=since, enforced=False, violation_ids=basis)
        ordered = sorted([*current.incidents, placeholder], key=lambda i: i.since)
        old_ends = {i.since: i.until for i in current.incidents}
        incidents = []
        for n, inc in enumerate(ordered):
            until = inc.since + temporary_duration(policy, max(0, pruned) + n)
            incidents.append(
                inc.model_copy(update={"until": until, "enforced": inc.enforced or until > self.now})
            )
        current.temporary_suspensions += 1
        s = current.suspension
        if s is not None and s.kind is SuspensionKind.temporary and s.decided_by == self.actor:
            # The suspension in force is a ladder incident: it takes that incident's new end.
            for inc in incidents:
                if inc.since == s.since and old_ends.get(inc.since) == s.until:
                    current.suspension = s.model_copy(update={"until": inc.until})
        current.incidents = incidents[-policy.ladder.incidents_kept :]
        return next(i for i in incidents if i.since == since and i.violation_ids == basis)

    def run(self, *, force: bool) -> None:
        current, finding, rule, policy, now, actor = (
            self.current,
            self.finding,
            self.rule,
            self.policy,
            self.now,
            self.actor,
        )
        ladder = policy.ladder
        decision, record_audit, reviews, vid = self.decision, self.record_audit, self.reviews, self.vid
        severity = finding.severity or rule.severity
        at = min(finding.detected_at, now)
        dry = policy.dry_run or rule.dry_run or current.dry_run
        allowlisted = current.allowlisted or current.account_id in policy.allowlist
        ladder_action = ladder.actions[severity]

        uncorroborated = ladder_action in _SUSPENSIONS and not self.corroborated(at, dry)
        review_reason = None
        if not force:
            if rule.review_only:
                review_reason = f"rule {rule.clause} is review-only"
            elif finding.confidence < rule.confidence_bar:
                review_reason = f"confidence {finding.confidence:.2f} below the bar {rule.confidence_bar:.2f}"
            elif allowlisted and ladder_action is not Action.warn:
                review_reason = f"allowlisted account; the ladder would {ladder_action.value}"
        if review_reason is None and ladder_action is Action.review:
            review_reason = f"severity {severity.value} goes to review by policy"
        if review_reason is None and uncorroborated:
            if ladder.corroboration.uncorroborated == "review":
                review_reason = f"{severity.value} {rule.basis} finding without corroboration"
            else:
                ladder_action = Action.strike

        if review_reason is not None:
            pending = current.open_reviews.get(finding.rule_id)
            if pending is not None and not force:
                # The account already waits on an operator for this rule: the same question again.
                self.repeats.append(
                    ReviewRepeat(review_id=pending, account_id=current.account_id, violation_id=vid, at=now)
                )
                decision(Action.review, f"{review_reason}; folded into pending review {pending}")
                return
            reviews.append(
                Review(
                    review_id=vid,
                    account_id=current.account_id,
                    violation_id=vid,
                    finding=finding,
                    reason=review_reason,
                    created_at=now,
                )
            )
            current.open_reviews[finding.rule_id] = vid
            decision(Action.review, review_reason)
            return

        if ladder_action is Action.warn:
            decision(Action.warn, f"{severity.value} finding: warning")
            return

        # strike, suspend_temporary and suspend_indefinite all leave a strike in the rolling window.
        current.strikes.append(Strike(violation_id=vid, rule_id=finding.rule_id, at=at, dry_run=dry))
        action = ladder_action
        reason = f"{severity.value} finding" + (": uncorroborated, a strike" if uncorroborated else "")
        basis: tuple[str, ...] = (vid, *self.corroboration)
        since = at
        if action is Action.strike:
            crossing = self.strike_crossing(at, dry)
            if crossing is not None:
                # The Nth strike in the window, in event time: at this finding, or (when it arrived out
                # of order) at the later strike that now completes the count.
                since, counted = crossing
                action = Action.suspend_temporary
                reason = f"strike {len(counted)} within {ladder.strike_window_days} days"
                basis = tuple(s.violation_id for s in counted)
            else:
                strikes = current.strike_count(at, ladder.strike_window_days, include_dry_run=dry)
                reason = (
                    f"strike {strikes} of {ladder.strikes_to_suspend} within {ladder.strike_window_days}"
                    " days" + (" (uncorroborated)" if uncorroborated else "")
                )

        before = current.effective_status(now)
        if action is Action.strike:
            decision(Action.strike, reason, enforced=not dry)
            if not dry:
                record_audit("strike", reason, before)
            return

        if action is Action.suspend_indefinite:
            if dry:
                decision(action, f"{reason}: would suspend indefinitely (dry-run)", enforced=False)
                return
            existing = current.suspension if current.enforced(now) else None
            if existing is not None and existing.kind is SuspensionKind.indefinite:
                decision(Action.record, f"{reason}: already suspended indefinitely")
                return
            current.status = Status.suspended
            current.suspension = Suspension(
                kind=SuspensionKind.indefinite,
                reason=finding.summary or rule.title,
                rule_id=finding.rule_id,
                clause=finding.clause,
                since=at,
                until=None,
                decided_by=actor,
                policy_version=policy.policy_version,
                violation_ids=basis,
            )
            decision(action, f"{reason}: suspended indefinitely")
            record_audit("suspend_indefinite", reason, before)
            return

        # Temporary suspension, doubling with each one the ladder imposed before.
        if dry:
            duration = temporary_duration(policy, current.temporary_suspensions)
            decision(
                action,
                f"{reason}: would suspend for {_human(duration)} (dry-run)",
                enforced=False,
                until=since + duration,
            )
            return
        covering = self.covering(since)
        if covering is not None:
            # One incident, one suspension, judged in event time: the rest of a burst, whether it
            # arrives on time, late, replayed or out of order, is recorded against the suspension the
            # burst already earned (enforced or elapsed); only a breach after it ended escalates.
            decision(Action.record, f"{reason}: {covering}")
            return
        incident = self.insert_incident(since, basis)
        until, duration = incident.until, incident.until - incident.since
        if until <= now:
            # A replayed finding whose suspension would already have ended: recorded, not enforced.
            decision(
                action,
                f"{reason}: suspension of {_human(duration)} already over at {now.isoformat()}",
                enforced=False,
                until=until,
            )
            record_audit("suspend_temporary_elapsed", reason, before)
            return
        if not current.enforced(now):
            current.status = Status.suspended
            current.suspension = Suspension(
                kind=SuspensionKind.temporary,
                reason=finding.summary or rule.title,
                rule_id=finding.rule_id,
                clause=finding.clause,
                since=since,
                until=until,
                decided_by=actor,
                policy_version=policy.policy_version,
                violation_ids=basis,
            )
        decision(action, f"{reason}: suspended for {_human(duration)}", until=until)
        record_audit("suspend_temporary", reason, before)


def _fold(repeats: list[ReviewRepeat], reviews: list[Review]) -> list[ReviewRepeat]:
    """One repeat per pending review (a transaction writes an item once): a review opened in this same
    batch takes its repeats itself."""
    opened = {r.review_id: i for i, r in enumerate(reviews)}
    out: dict[str, ReviewRepeat] = {}
    for rep in repeats:
        if rep.review_id in opened:
            i = opened[rep.review_id]
            reviews[i] = reviews[i].repeated(1, rep.violation_id, rep.at)
            continue
        seen = out.get(rep.review_id)
        out[rep.review_id] = rep if seen is None else rep.model_copy(update={"count": seen.count + 1})
    return list(out.values())


def _prune(state: AccountState, policy: Policy, now: datetime) -> None:
    """Forget strikes outside the window and the oldest remembered violation ids."""
    horizon = now - timedelta(days=policy.ladder.strike_window_days)
    state.strikes = [s for s in state.strikes if s.at > horizon]
    keep = policy.ladder.recent_violation_ids
    if len(state.recent_violation_ids) > keep:
        state.recent_violation_ids = state.recent_violation_ids[-keep:]


def _human(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:g} days" if hours >= 48 else f"{hours:g} h"


# --- operator and schedule transitions ------------------------------------------------------------


def _operator_audit(
    state: AccountState, before: Status, action: str, reason: str, actor: str, now: datetime
) -> AuditEntry:
    return AuditEntry(
        account_id=state.account_id,
        at=now,
        actor=actor,
        action=action,
        reason=reason,
        from_status=before,
        to_status=state.effective_status(now),
        version=state.version,
    )


def suspend(
    state: AccountState, *, reason: str, until: datetime | None, actor: str, now: datetime
) -> Outcome:
    """An operator's suspension: temporary when ``until`` is given, else indefinite."""
    if until is not None and until <= now:
        raise ValueError("until must be in the future")
    current = state.model_copy(deep=True)
    before = current.effective_status(now)
    current.status = Status.suspended
    current.suspension = Suspension(
        kind=SuspensionKind.temporary if until else SuspensionKind.indefinite,
        reason=reason,
        rule_id="E1-operator",
        clause="E1",
        since=now,
        until=until,
        decided_by=actor,
    )
    current.version += 1
    current.updated_at = now
    return Outcome(state=current, audit=[_operator_audit(current, before, "suspend", reason, actor, now)])


def reinstate(state: AccountState, *, reason: str, actor: str, now: datetime) -> Outcome:
    """An operator lifts any suspension. Strikes stay: they are history, and they age out."""
    current = state.model_copy(deep=True)
    before = current.effective_status(now)
    current.status = Status.active
    current.suspension = None
    current.version += 1
    current.updated_at = now
    return Outcome(state=current, audit=[_operator_audit(current, before, "reinstate", reason, actor, now)])


def void_violation(
    state: AccountState, *, violation_id: str, reason: str, actor: str, now: datetime
) -> Outcome:
    """An operator voids a wrongful violation: its strike goes, it no longer counts toward the
    doubling, and a suspension resting on it is lifted. Audited, whatever it changed."""
    if not reason.strip():
        raise ValueError("voiding a violation needs a reason")
    current = state.model_copy(deep=True)
    before = current.effective_status(now)
    current.strikes = [s for s in current.strikes if s.violation_id != violation_id]
    kept = [i for i in current.incidents if violation_id not in i.violation_ids]
    current.temporary_suspensions = max(
        0, current.temporary_suspensions - (len(current.incidents) - len(kept))
    )
    current.incidents = kept
    s = current.suspension
    if s is not None and violation_id in s.violation_ids:
        current.status = Status.active
        current.suspension = None
    current.version += 1
    current.updated_at = now
    audit = _operator_audit(current, before, "void", reason, actor, now)
    return Outcome(state=current, audit=[audit.model_copy(update={"violation_id": violation_id})])


def set_allowlisted(state: AccountState, *, allowlisted: bool, actor: str, now: datetime) -> Outcome | None:
    """Set the allowlist flag; None when it already has that value (a repeated PUT changes nothing)."""
    if state.allowlisted == allowlisted:
        return None
    current = state.model_copy(deep=True)
    before = current.effective_status(now)
    current.allowlisted = allowlisted
    current.version += 1
    current.updated_at = now
    action = "allowlist" if allowlisted else "unallowlist"
    return Outcome(state=current, audit=[_operator_audit(current, before, action, action, actor, now)])


def set_acts_for(state: AccountState, *, acts_for: list[str], actor: str, now: datetime) -> Outcome | None:
    """Set the accounts ``state``'s may act for (X-Account-Id); None when unchanged."""
    wanted = AccountState.model_validate({"account_id": state.account_id, "acts_for": acts_for}).acts_for
    if wanted == state.acts_for:
        return None
    current = state.model_copy(deep=True)
    before = current.effective_status(now)
    current.acts_for = wanted
    current.version += 1
    current.updated_at = now
    if not wanted:
        reason = "acts for no other account"
    elif wanted == [ANY_ACCOUNT]:
        reason = "acts for any account"
    else:
        shown = ", ".join(wanted[:5]) + (f" and {len(wanted) - 5} more" if len(wanted) > 5 else "")
        reason = f"acts for {shown}"
    return Outcome(state=current, audit=[_operator_audit(current, before, "acts-for", reason, actor, now)])


def lift_expired(state: AccountState, *, now: datetime, actor: str = "suspension-expiry") -> Outcome | None:
    """Lift a temporary suspension whose end has passed; None when there is nothing to lift."""
    s = state.suspension
    if state.status is not Status.suspended or s is None or s.kind is not SuspensionKind.temporary:
        return None
    if s.in_force(now):
        return None
    current = state.model_copy(deep=True)
    current.status = Status.active
    current.suspension = None
    current.version += 1
    current.updated_at = now
    reason = f"temporary suspension ended at {s.until.isoformat() if s.until else '?'}"
    return Outcome(
        state=current, audit=[_operator_audit(current, Status.suspended, "expire", reason, actor, now)]
    )


def severity_of(finding: Finding, policy: Policy) -> Severity:
    return finding.severity or policy.rule(finding.rule_id).severity
