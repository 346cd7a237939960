"""
The C{sockplug} command: C{connect}, C{send}, C{check-config} and
C{protocols}, its client endpoints and TLS checks.
"""

from sockplug.client._cli import main

__all__ = ["main"]
