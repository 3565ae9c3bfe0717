"""Operators: the roster's people at work: passwords, console sessions, ACD states, the screen pop."""
