"""
Unit tests for L{sockplug.config}.
"""
