"""Operators: passwords (hashed, under var/), later console sessions and each operator's ACD state.

The roster itself (who, which role, which queues) is configuration: ``ivr.config.roster``.
"""

from ivr.operators.passwords import MIN_LENGTH, PasswordError, PasswordFile, PasswordFileError

__all__ = ["MIN_LENGTH", "PasswordError", "PasswordFile", "PasswordFileError"]
