"""
Unit tests for L{sockplug.client}.
"""
