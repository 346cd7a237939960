"""
Log and output lines: addresses as they are shown, bytes escaped for a
terminal, quoting, and log lines that a flood cannot multiply.
"""

from sockplug.logs._address import formatAddress
from sockplug.logs._escape import OutputEscaper, escapeLines, quoted
from sockplug.logs._ratelog import RateLimitedLog

__all__ = [
    "OutputEscaper",
    "RateLimitedLog",
    "escapeLines",
    "formatAddress",
    "quoted",
]
