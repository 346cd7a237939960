"""
Unit tests for L{sockplug.metrics}.
"""
