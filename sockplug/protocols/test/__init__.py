"""
Unit tests for L{sockplug.protocols}.
"""
