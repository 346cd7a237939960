"""
Log and output lines: addresses as they are shown, bytes escaped for a
terminal, quoting, and log lines that a flood cannot multiply: a
listener's (L{RateLimitedLog}) and the whole process's
(L{ProcessLogLimit}).
"""

from sockplug.logs._address import formatAddress
from sockplug.logs._escape import OutputEscaper, escapeLines, quoted
from sockplug.logs._kinds import LOG_KIND, kindOf
from sockplug.logs._processlog import ProcessLogLimit, limitTwistdLog
from sockplug.logs._ratelog import ALREADY_LIMITED, RATE_LIMITED, RateLimitedLog

__all__ = [
    "ALREADY_LIMITED",
    "LOG_KIND",
    "RATE_LIMITED",
    "OutputEscaper",
    "ProcessLogLimit",
    "RateLimitedLog",
    "escapeLines",
    "formatAddress",
    "kindOf",
    "limitTwistdLog",
    "quoted",
]
