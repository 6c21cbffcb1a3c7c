"""Access-log detectors (clauses D1 D2 D5a D5b G1 W1 W5): parse lines, tally windows, judge rules."""

from aup.policy.validate import declare_emitted

# Every rule id this package's source can emit, in one place: a policy that lacks one fails where it
# is parsed (aup.policy.validate). tests/unit/test_policy_validate.py fails when a rule-id literal in
# the package's source is not declared here.
EMITS = declare_emitted(
    __name__,
    (
        "D1-attack-payload",
        "D1-error-burst",
        "D1-exploit-probe",
        "D1-exploit-signature",
        "D1-scanner-agent",
        "D1-sensitive-path",
        "D1-slow-probing",
        "D2-auth-failure-burst",
        "D2-foreign-account-probe",
        "D2-key-stuffing",
        "D2-login-brute-force",
        "D5a-request-flood",
        "D5b-daily-egress",
        "D5b-daily-requests",
        "G1-key-sharing",
        "W1-claimed-account",
        "W1-fake-crawler",
        "W1-forged-forwarded-for",
        "W5-crawl-ratio",
        "W5-id-enumeration",
        "W5-undocumented-routes",
    ),
)
