"""Finding or provisioning a real Asterisk, rendering its configuration, running it."""
