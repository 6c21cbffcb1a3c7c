"""Detector sections of the policy document: every threshold a detector reads is declared here once.

Sections forbid unknown keys: a typo in a threshold fails at cold start, not mid-stream.
"""

from aup.policy.sections.logs import LogAnalysis
from aup.policy.sections.uploads import UploadScanning
from aup.policy.sections.usage import UsageMonitoring

__all__ = ["LogAnalysis", "UploadScanning", "UsageMonitoring"]
