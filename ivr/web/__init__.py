"""The web side (aiohttp): health, the SOP in force, the operators' console."""
