"""
Unit tests for L{sockplug.endpoints.proxy}.
"""
