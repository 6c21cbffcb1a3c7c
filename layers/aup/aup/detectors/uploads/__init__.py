"""Upload detectors (clauses I1 I2 I3 W1 W2 W3 W4 W6 D6 C1): type, signatures, content, archives."""

from aup.policy.validate import declare_emitted

# Every rule id this package's source can emit, in one place: a policy that lacks one fails where it
# is parsed (aup.policy.validate). tests/unit/test_policy_validate.py fails when a rule-id literal in
# the package's source is not declared here.
EMITS = declare_emitted(
    __name__,
    (
        "C1-bulk-recipients",
        "D6-media-hoarding",
        "I1-infringing-hash",
        "I2-abuse-material-hash",
        "I3-archive-bomb",
        "I3-disguised-executable",
        "I3-malware-signature",
        "I3-script-in-document",
        "W1-phishing-page",
        "W2-bulk-personal-data",
        "W2-cloud-credentials",
        "W2-personal-data",
        "W3-threat-phrases",
        "W4-known-illegal-hash",
        "W6-hidden-trademark",
    ),
)
