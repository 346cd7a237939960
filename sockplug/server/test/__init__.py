"""
Unit tests for L{sockplug.server}.
"""
