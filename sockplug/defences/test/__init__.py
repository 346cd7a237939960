"""
Unit tests for L{sockplug.defences}.
"""
