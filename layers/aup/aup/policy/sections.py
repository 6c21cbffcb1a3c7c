"""Detector sections of the policy document, each owned by its signal's package.

Sections forbid unknown keys: a typo in a threshold fails at cold start, not mid-stream.
"""

from aup.logs.settings import LogAnalysis
from aup.uploads.settings import UploadScanning
from aup.usage.settings import UsageMonitoring

__all__ = ["LogAnalysis", "UploadScanning", "UsageMonitoring"]
