"""
Unit tests for L{sockplug.logs}.
"""
