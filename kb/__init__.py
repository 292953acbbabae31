"""Escalation KB: the case domain (format, validation, rendering) and the store."""

__version__ = "0.1.0"
