"""Call records, operator dispositions and prank flags (SQLite under var/)."""
