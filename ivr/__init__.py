"""Siaga 112: the 112 emergency line of Kabupaten Tangerang (Asterisk 22 + our FastAGI service)."""
