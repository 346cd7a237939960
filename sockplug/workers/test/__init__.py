"""
Unit tests for L{sockplug.workers}.
"""
