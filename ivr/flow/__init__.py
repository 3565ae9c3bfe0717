"""The IVR engine, its static analysis (safety, timing) and the simulator; no sockets here."""
