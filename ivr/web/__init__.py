"""The web side (aiohttp): health, the SOP in force, operator dispositions."""
