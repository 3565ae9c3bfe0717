"""Prompt audio from the YAML texts (espeak-ng + sox), with per-key timing."""
