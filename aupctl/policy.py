"""``aupctl policy validate|diff``: check a policy document, and see what it would change before it is live.

``validate`` runs the document through the policy model (the JSON Schema, docs/policy.schema.json,
is generated from it: the same constraints and the same messages) and then through the checks a
schema cannot state (``aup.policy.validate``: every rule a detector emits, the usage section's rules,
every plan stated in full). Every problem is one line naming its path; exit 0 valid, 1 invalid,
2 the file cannot be read.

``diff`` replays the local stack's recorded violations (and, with ``--logs``, archived access logs
through the code ``aupctl replay`` runs) under the live policy (the one the stack's functions load)
and under the candidate, each finding decided at its own event time, and prints per account what
would change. It writes nothing. A candidate that does not validate is refused.
"""

from __future__ import annotations

import importlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aupctl import state
from aupctl.errors import CliError

DETECTORS = ("aup.detectors.logs", "aup.detectors.uploads", "aup.detectors.usage")
LOCAL_PARAMETER = "/aup/policy"  # the SSM parameter `aupctl local up --policy` writes
LOCAL_SHADOW_PARAMETER = "/aup/shadow-policy"  # and the one `local up --shadow-policy` writes


def load_detectors() -> None:
    """Import every detector package: each registers the rule ids it emits (aup.policy.validate)."""
    for name in DETECTORS:
        importlib.import_module(name)


@dataclass
class Checked:
    origin: str
    policy: Any = None
    errors: list[str] = field(default_factory=list)
    stored: Any = None  # aup.policy.stored.StoredPolicy: its value and tier in SSM

    @property
    def ok(self) -> bool:
        return self.policy is not None and not self.errors


def check_text(text: str, origin: str) -> Checked:
    """Every problem of a policy document, one ``path: message`` line each."""
    import yaml
    from pydantic import ValidationError

    from aup.policy.document import Policy, PolicyError
    from aup.policy.stored import load_stored
    from aup.policy.validate import problems

    load_detectors()
    try:
        compressed, data = load_stored(text, origin=origin)  # a compressed value, as the loader reads it
    except PolicyError as exc:
        return Checked(origin, errors=[f"<root>: {str(exc).removeprefix(f'{origin}: ')}"])
    if not compressed:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            return Checked(origin, errors=[f"<root>: not valid YAML: {' '.join(str(exc).split())}"])
    if not isinstance(data, dict):
        return Checked(origin, errors=[f"<root>: the document must be a mapping, got {type(data).__name__}"])
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        errors = [f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()]
        return Checked(origin, errors=errors)
    errors = problems(policy, data)
    stored = None
    try:
        stored = stored_form(text, origin)
    except PolicyError as exc:  # valid, but no SSM parameter can hold it
        errors.append(f"<root>: {str(exc).removeprefix(f'{origin}: ')}")
    return Checked(origin, policy, errors, stored)


def stored_form(text: str, origin: str = "policy") -> Any:
    """How ``text`` is stored in SSM (aup.policy.stored.StoredPolicy); PolicyTooLarge when it cannot be."""
    from aup.policy.stored import encode

    return encode(text, origin=origin)


def read_policy_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise CliError(f"cannot read policy file {path}: {err.strerror or err}", exit_code=2) from err


def require_valid(path: Path, what: str = "policy") -> tuple[Any, str]:
    """(policy, its text) of a document that validates; CliError naming every problem otherwise."""
    text = read_policy_file(path)
    checked = check_text(text, str(path))
    if not checked.ok:
        raise CliError(f"{what} {path} refused: {'; '.join(checked.errors)}")
    return checked.policy, text


def validate(path: Path, as_json: bool) -> int:
    checked = check_text(read_policy_file(path), str(path))
    if as_json:
        body = {"file": str(path), "valid": checked.ok, "errors": checked.errors}
        if checked.ok:
            body["policy_version"] = checked.policy.policy_version
        if checked.stored is not None:
            body["ssm"] = {
                "tier": checked.stored.tier,
                "raw_chars": checked.stored.raw_chars,
                "stored_chars": checked.stored.chars,
                "compressed": checked.stored.compressed,
            }
        print(json.dumps(body, indent=2))
    elif checked.ok:
        print(
            f"{path}: valid (policy_version {checked.policy.policy_version}, "
            f"{len(checked.policy.rules)} rules; SSM: {checked.stored.describe()})"
        )
    else:
        import sys

        for line in checked.errors:
            print(f"{path}: {line}", file=sys.stderr)
        print(f"{path}: invalid, {len(checked.errors)} problem(s)", file=sys.stderr)
    return 0 if checked.ok else 1


_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``2w``, ``45s``."""
    m = _SPAN.match(text.lower())
    if not m:
        raise CliError(
            f"--since {text!r}: expected a number and a unit (s, m, h, d, w), e.g. 30d", exit_code=2
        )
    return timedelta(**{_UNITS[m.group(2)]: float(m.group(1))})


def recorded(ledger: Any, since: datetime) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """(account id -> state, account id -> its violations detected at or after ``since``)."""
    from aupctl.replay import _accounts

    known = _accounts(ledger)
    return known, {a: _violations(ledger, a, since) for a in sorted(known)}


def _violations(ledger: Any, account_id: str, since: datetime) -> list[Any]:
    out: list[Any] = []
    token = None
    while True:
        page = ledger.list_violations(account_id, 200, token)
        out += [v for v in page.items if v.detected_at >= since]
        token = page.next_token
        if not token:
            return out


def diff(
    candidate_path: Path,
    *,
    since: str,
    logs: Path | None,
    fmt: str,
    as_json: bool,
    html: Path | None,
    port: int,
    corpus: str | None = None,
    scenarios: tuple[str, ...] = (),
    s3: Any = None,
) -> int:
    """``s3``: the S3 client factory for an ``s3://`` ``logs`` (``--stack``; default the local stack's)."""
    window = parse_since(since)
    candidate, _ = require_valid(candidate_path, "candidate")
    if state.endpoint_answers(port):
        report = recorded_diff(candidate, window=window, logs=logs, fmt=fmt, port=port, s3=s3)
    elif corpus is None and not scenarios:
        raise CliError(
            f"policy diff replays the local stack's ledger and none runs on port {port}: "
            "start one with `aupctl local up` (or check the candidate against the honest corpus "
            "alone: --corpus fast|all)"
        )
    else:
        report = {
            "recorded": False,
            "live_policy": None,
            "candidate_policy": candidate.policy_version,
            "accounts": [],
            "summary": f"recorded history not replayed: no local stack on port {port}",
        }
    check = None
    if corpus is not None or scenarios:
        check = run_corpus(candidate_path, candidate, subset=corpus or "all", only=scenarios)
        report["corpus"] = check.as_dict()
    if html is not None:
        html.write_text(render_html(report), encoding="utf-8")
    if as_json:
        print(json.dumps(report, indent=2, default=str))
    else:
        if report.get("recorded") is False:
            print(report["summary"])
        else:
            print_report(report)
        if check is not None:
            print_corpus(check)
    return 0 if check is None or check.ok else 1


def recorded_diff(
    candidate: Any, *, window: timedelta, logs: Path | None, fmt: str, port: int, s3: Any = None
) -> dict[str, Any]:
    """The recorded history (and ``logs``) of the local stack on ``port`` under its live policy and
    under ``candidate``, as the report's dict."""
    from aup.usecases.policy_diff import diff as policy_diff
    from aupctl.replay import _domain, detect_format, read_log_lines
    from aupctl.runner import LocalStack

    as_of = datetime.now(UTC)
    with _domain(LocalStack.connect(port)) as (live, ledger):
        known, violations = recorded(ledger, as_of - window)
    extra_live: list[Any] = []
    extra_candidate: list[Any] = []
    if logs is not None:
        from aup.usecases.replay import replay

        local_s3 = lambda: LocalStack.connect(port).client("s3")  # noqa: E731 (the stack's archive)
        lines = read_log_lines(logs, s3=s3 or local_s3)
        log_fmt = detect_format(lines) if fmt == "auto" else fmt
        plans = {a: s.plan for a, s in known.items()}
        acts_for = {a: s.acts_for for a, s in known.items() if s.acts_for}
        extra_live = replay(lines, live, fmt=log_fmt, plans=plans, acts_for=acts_for)
        extra_candidate = replay(lines, candidate, fmt=log_fmt, plans=plans, acts_for=acts_for)
    result = policy_diff(
        violations,
        live,
        candidate,
        as_of=as_of,
        states=known,
        extra_live=extra_live,
        extra_candidate=extra_candidate,
    )
    return result.as_dict()


# ------------------------------------------------------------------------------ diff --corpus

CORPUS_TIMEOUT_SECONDS = 1800.0


def run_corpus(candidate_path: Path, candidate: Any, *, subset: str, only: tuple[str, ...] = ()) -> Any:
    """The honest half of `make eval`'s corpus (``fast`` or ``all``, or the scenarios ``only``) through
    the real handlers on a private local stack whose live policy is the candidate (``python -m
    tests.eval --honest --policy FILE``, in a process of its own, its stack stopped at the end: the
    operator's stack is never written to), judged by aup.usecases.policy_diff.check_corpus against
    the shipped policy. Needs the repository's tests/eval (a checkout, as the local stack does)."""
    import os
    import subprocess
    import sys
    import tempfile

    from aup.policy.loader import load_default_policy
    from aup.usecases.policy_diff import check_corpus
    from aupctl.stack import ROOT

    if not (ROOT / "tests" / "eval" / "__main__.py").is_file():
        raise CliError(
            f"--corpus runs the labelled corpus of tests/eval, which is not in {ROOT}: "
            "run it from a checkout of the repository"
        )
    with tempfile.TemporaryDirectory(prefix="aupctl-corpus-") as tmp:
        out = Path(tmp) / "corpus.json"
        cmd = [
            sys.executable, "-m", "tests.eval", "--honest", "--no-matrix",
            "--policy", str(candidate_path.resolve()), "--json", str(out),
        ]  # fmt: skip
        if only:
            cmd += ["--only", *only]
        elif subset == "fast":
            cmd.append("--fast")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT), str(ROOT / "layers" / "aup"), env.get("PYTHONPATH", "")) if p
        )
        what = ", ".join(only) if only else f"the {subset} honest corpus"
        print(
            f"policy diff: running {what} under {candidate.policy_version} on a private local stack ...",
            file=sys.stderr,
            flush=True,
        )
        try:
            done = subprocess.run(
                cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=CORPUS_TIMEOUT_SECONDS,
                check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as err:
            raise CliError(f"the corpus run did not finish within {CORPUS_TIMEOUT_SECONDS:.0f} s") from err
        if not out.is_file():  # exit 1 (an honest scenario wronged) still writes the report
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise CliError(f"the corpus run failed (exit {done.returncode}): {' / '.join(tail)}")
        rows = json.loads(out.read_text(encoding="utf-8"))["scenarios"]
    return check_corpus(rows, load_default_policy(), candidate)


def print_corpus(check: Any) -> None:
    print(
        f"honest corpus under {check.candidate_policy} (fields compared with the shipped policy "
        f"{check.baseline_policy}):"
    )
    for w in check.wronged:
        mark = f"KNOWN ({w.known})" if w.known else "WRONGED"
        print(f"  {mark} {w.name} (plan {w.plan}, account {w.account_id}): {'; '.join(w.harms)}")
        print(f"    rules: {', '.join(w.rules) or '-'}")
        if w.fields:
            for f in w.fields:
                print(f"    field: {f}")
        else:
            print("    field: none of its rule, section, plan or ladder changed")
    for e in check.errors:
        print(f"  NOT RUN {e}")
    print(check.summary())


def print_report(report: dict[str, Any]) -> None:
    for a in report["accounts"]:
        if not a["changes"]:
            continue
        live, cand = a["live"], a["candidate"]
        print(
            f"account {a['account_id']} (plan {a['plan']}, {a['findings']} finding(s)): "
            f"live {live['suspensions']} suspension(s) / {live['strikes']} strike(s) / "
            f"{live['reviews']} review(s); "
            f"candidate {cand['suspensions']} / {cand['strikes']} / {cand['reviews']}"
        )
        for change in a["changes"]:
            print(f"  {change}")
    if not any(a["changes"] for a in report["accounts"]):
        print("no difference: the candidate decides every recorded finding as the live policy does")
    print(report["summary"])


_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>policy diff {{ r.live_policy }} -> {{ r.candidate_policy }}</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;
padding:4px 8px;text-align:left;vertical-align:top}.new{background:#fdd}.lifted{background:#dfd}
</style></head>
<body><h1>Policy diff: {{ r.live_policy }} &rarr; {{ r.candidate_policy }}</h1>
<p>{{ r.summary }} (as of {{ r.as_of }})</p>
<table><tr><th>account</th><th>plan</th><th>findings</th><th>live susp. / strikes / reviews</th>
<th>candidate susp. / strikes / reviews</th><th>changes</th></tr>
{% for a in r.accounts if a.changes %}
<tr class="{{ 'new' if a.newly_suspended else ('lifted' if a.lifted else '') }}"><td>{{ a.account_id }}</td>
<td>{{ a.plan }}</td><td>{{ a.findings }}</td>
<td>{{ a.live.suspensions }} / {{ a.live.strikes }} / {{ a.live.reviews }}</td>
<td>{{ a.candidate.suspensions }} / {{ a.candidate.strikes }} / {{ a.candidate.reviews }}</td>
<td><ul>{% for c in a.changes %}<li>{{ c }}</li>{% endfor %}</ul></td></tr>
{% else %}<tr><td colspan="6">{{ 'not replayed' if r.recorded is false else 'no difference' }}</td></tr>
{% endfor %}
</table>
{% if r.corpus %}<h2>Honest corpus under {{ r.corpus.candidate_policy }}</h2>
<p>{{ r.corpus.summary }}</p>
<table><tr><th>scenario</th><th>account</th><th>harm</th><th>rules</th><th>changed fields</th></tr>
{% for w in r.corpus.wronged %}<tr class="new"><td>{{ w.scenario }}{{ ' (known)' if w.known else '' }}</td>
<td>{{ w.account_id }} ({{ w.plan }})</td><td>{{ w.harms | join('; ') }}</td>
<td>{{ w.rules | join(', ') }}</td>
<td><ul>{% for f in w.fields %}<li>{{ f }}</li>{% endfor %}</ul></td></tr>
{% else %}<tr><td colspan="5">no honest scenario wronged</td></tr>{% endfor %}
</table>{% endif %}
</body></html>
"""


def render_html(report: dict[str, Any]) -> str:
    from jinja2 import Environment

    return Environment(autoescape=True).from_string(_HTML).render(r=report)


def put_local_policy(endpoint: str, path: Path, name: str = LOCAL_PARAMETER) -> str:
    """Write the document at ``path`` into the local SSM parameter ``name`` (compressed, in the tier it
    needs: aup.policy.stored); returns ``name``."""
    import boto3

    from aupctl.stack import REGION

    ssm = boto3.client("ssm", region_name=REGION, endpoint_url=endpoint)
    put_policy_value(ssm, name, read_policy_file(path), origin=str(path))
    return name


def put_policy_value(ssm: Any, name: str, text: str, *, origin: str = "policy") -> int:
    """Put a policy document into the SSM parameter ``name`` as aup.policy.stored encodes it, in the
    tier it needs (an Advanced parameter stays Advanced: SSM cannot move it back). CliError when it
    would not fit even compressed. Returns the new version."""
    from aup.policy.document import PolicyError

    try:
        stored = stored_form(text, origin)
    except PolicyError as exc:
        raise CliError(str(exc)) from exc
    tier = stored.tier
    if tier == "Standard" and _tier(ssm, name) == "Advanced":
        tier = "Advanced"
    resp = ssm.put_parameter(Name=name, Value=stored.value, Type="String", Tier=tier, Overwrite=True)
    return int(resp["Version"])


def _tier(ssm: Any, name: str) -> str | None:
    found = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}]).get(
        "Parameters", []
    )
    return str(found[0].get("Tier", "Standard")) if found else None


def encode_command(path: Path) -> int:
    """``aupctl policy encode FILE``: the value to put into the parameter on stdout, its tier on stderr."""
    import sys

    checked = check_text(read_policy_file(path), str(path))
    if not checked.ok:
        raise CliError(f"{path} refused: {'; '.join(checked.errors)}")
    print(checked.stored.value)
    print(f"{path}: {checked.stored.describe()}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------- shadow-report, promote


def shadow_report(store: Any, since: datetime) -> dict[str, Any]:
    """Per account with shadow decisions since ``since``: where the live and the shadow policy differed."""
    from aup.usecases.shadow import divergences, summary

    account_ids: list[str] = []
    token = None
    while True:
        page = store.list_accounts(200, token)
        account_ids += [s.account_id for s in page.items]
        token = page.next_token
        if not token:
            break
    report = divergences(store, sorted(account_ids), since)
    return {
        "since": since.isoformat(),
        "accounts": [a.as_dict() for a in report],
        "summary": dict(summary(report)),
    }


def print_shadow_report(report: dict[str, Any]) -> None:
    for a in report["accounts"]:
        if not a["diverged"]:
            continue
        print(f"account {a['account_id']}: {len(a['diverged'])} of {a['decisions']} decision(s) diverged")
        for d in a["diverged"]:
            until = f" until {d['shadow_until']}" if d["shadow_until"] else ""
            print(
                f"  {d['detected_at']} {d['rule_id']} {d['violation_id']}: "
                f"live {d['live']} ({d['live_policy_version']}) -> "
                f"shadow {d['shadow']}{until} ({d['shadow_policy_version']})"
            )
    s = report["summary"]
    print(
        f"since {report['since']}: {s['decisions']} shadow decision(s) on {s['accounts']} account(s); "
        f"{s['diverged']} diverged on {s['accounts_diverged']} account(s)"
    )


def _parameter(ssm: Any, name: str) -> tuple[str, int] | None:
    """(value, version) of an SSM parameter, None when it does not exist."""
    try:
        p = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
    except ssm.exceptions.ParameterNotFound:
        return None
    return str(p["Value"]), int(p["Version"])


def _history(ssm: Any, name: str) -> dict[int, str]:
    out: dict[int, str] = {}
    kwargs: dict[str, Any] = {"Name": name, "WithDecryption": True}
    while True:
        resp = ssm.get_parameter_history(**kwargs)
        out.update({int(p["Version"]): str(p["Value"]) for p in resp.get("Parameters", [])})
        if not resp.get("NextToken"):
            return out
        kwargs["NextToken"] = resp["NextToken"]


def _same_document(a: str, b: str) -> bool:
    from aup.policy.document import PolicyError
    from aup.policy.stored import decode

    try:
        return decode(a) == decode(b) or stored_form(a).value == stored_form(b).value
    except PolicyError:
        return a == b


def _policy_version(text: str | None) -> str:
    if text is None:
        return "(default policy)"
    checked = check_text(text, "ssm")
    return str(checked.policy.policy_version) if checked.policy is not None else "(invalid)"


def promote_parameter(
    ssm: Any,
    store: Any,
    *,
    live: str,
    candidate: str | None,
    actor: str,
    now: datetime,
    rollback: bool = False,
) -> dict[str, Any]:
    """Make the candidate parameter's document live (a new version of ``live``), or with ``rollback``
    put the previous version's document back. Refuses a document that does not validate; records an
    audit item ``POLICY#<live> / AUDIT#<at>#<version>`` (who, when, from version -> to version)."""
    from aup.domain.ports import PolicyChange

    current = _parameter(ssm, live)
    if rollback:
        if current is None or current[1] < 2:
            raise CliError(f"{live} has no previous version to roll back to")
        history = _history(ssm, live)
        previous = max((v for v in history if v < current[1]), default=None)
        if previous is None:
            raise CliError(f"{live}: version {current[1] - 1} is no longer in the parameter's history")
        text, source = history[previous], f"{live} version {previous}"
    else:
        if not candidate:
            raise CliError(
                "no candidate: the stack has no ShadowPolicyParameterName; "
                "name one with --candidate-parameter"
            )
        got = _parameter(ssm, candidate)
        if got is None:
            raise CliError(f"candidate parameter {candidate} does not exist")
        text, source = got[0], f"{candidate} version {got[1]}"
    checked = check_text(text, source)  # a stored (compressed) value is read as the loader reads it
    if not checked.ok:
        raise CliError(f"{source} refused: {'; '.join(checked.errors)}")
    if current is not None and _same_document(current[0], text):
        raise CliError(f"{live} version {current[1]} already holds that document; nothing promoted")
    to_version = put_policy_value(ssm, live, text, origin=source)
    change = PolicyChange(
        parameter=live,
        actor=actor,
        at=now,
        from_version=current[1] if current else None,
        to_version=to_version,
        from_policy_version=_policy_version(current[0] if current else None),
        to_policy_version=str(checked.policy.policy_version),
        action="rollback" if rollback else "promote",
        source=source,
    )
    store.record_policy_change(change)
    return {
        "action": change.action,
        "parameter": live,
        "from_version": change.from_version,
        "to_version": to_version,
        "from_policy_version": change.from_policy_version,
        "to_policy_version": change.to_policy_version,
        "source": source,
        "actor": actor,
        "at": now.isoformat(),
    }


def _stack_policy_context(port: int) -> tuple[Any, Any, dict[str, str]]:
    """(ssm client, ledger store, the analyzer's environment) of the local stack on ``port``."""
    from aup.adapters.dynamodb import DynamoStore
    from aupctl.runner import FunctionRunner, LocalStack

    local = LocalStack.connect(port)
    env = FunctionRunner(local).environment("ApiLogAnalyzerFunction")
    store = DynamoStore(env["LEDGER_TABLE"], local.client("dynamodb"))
    return local.client("ssm"), store, env


def shadow_report_command(*, since: str, as_json: bool, port: int) -> int:
    window = parse_since(since)
    _, store, env = _stack_policy_context(port)
    report = shadow_report(store, datetime.now(UTC) - window)
    report["shadow_parameter"] = env.get("AUP_SHADOW_POLICY_PARAMETER") or None
    if as_json:
        print(json.dumps(report, indent=2, default=str))
    else:
        if not report["shadow_parameter"]:
            print("note: the stack has no ShadowPolicyParameterName; no new shadow decisions are recorded")
        print_shadow_report(report)
    return 0


def promote_command(
    *, rollback: bool, candidate_parameter: str | None, actor: str | None, as_json: bool, port: int
) -> int:
    import getpass

    ssm, store, env = _stack_policy_context(port)
    live = env.get("AUP_POLICY_PARAMETER", "")
    if not live:
        raise CliError(
            "the stack has no PolicyParameterName (it runs the shipped policy): nothing to promote into; "
            "start it with `aupctl local up --policy FILE`"
        )
    if actor is None:
        try:  # who: the caller's identity (an ARN on AWS), else the local user name
            actor = ssm_identity(port)
        except Exception:
            actor = getpass.getuser()
    result = promote_parameter(
        ssm,
        store,
        live=live,
        candidate=candidate_parameter or env.get("AUP_SHADOW_POLICY_PARAMETER") or None,
        actor=actor,
        now=datetime.now(UTC),
        rollback=rollback,
    )
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"{result['action']}: {live} version {result['from_version']} -> {result['to_version']} "
            f"(policy {result['from_policy_version']} -> {result['to_policy_version']}, "
            f"from {result['source']})"
        )
        if result["from_version"] is not None:
            print(
                f"previous version {result['from_version']} kept in the parameter's history: "
                "`aupctl policy promote --rollback` puts it back"
            )
    return 0


def ssm_identity(port: int) -> str:
    from aupctl.runner import LocalStack

    return str(LocalStack.connect(port).client("sts").get_caller_identity()["Arn"])
