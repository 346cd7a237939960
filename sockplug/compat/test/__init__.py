"""
Unit tests for L{sockplug.compat}.
"""
