"""Pure decisions: where a call goes (SOP, clock, live state) and how a number stands (triage)."""
