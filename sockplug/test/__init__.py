"""
Unit tests for L{sockplug}.
"""
