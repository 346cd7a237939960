"""
Unit tests for L{sockplug.options}.
"""
