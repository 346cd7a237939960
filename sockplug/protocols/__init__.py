"""
sockplug's built-in protocols: L{echo}, L{lineprint} and L{hello}, and the
counting and logging they share (L{sockplug.protocols.base}).
"""
