"""
Unit tests for L{sockplug.discovery}.
"""
