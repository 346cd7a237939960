"""
Unit tests for L{sockplug.internet}.
"""
