"""Protocol fakes shared by the unit tests (typed against the real interfaces, never ``Mock()``)."""
