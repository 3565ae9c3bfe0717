"""Operators at work: passwords (hashed, under var/), console logins, ACD states, the floor and the screen pop.

The roster itself (who, which role, which queues) is configuration: ``ivr.config.roster``.
"""

from ivr.operators.passwords import MIN_LENGTH, PasswordError, PasswordFile, PasswordFileError

__all__ = ["MIN_LENGTH", "PasswordError", "PasswordFile", "PasswordFileError"]
