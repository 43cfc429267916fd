"""Email and SMS providers behind one small interface (`base`), with a local outbox and recording fakes."""
