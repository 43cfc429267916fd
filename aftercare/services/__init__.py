"""Application services: what flows, the CLI and the webhook app call. Each takes its collaborators
explicitly; `aftercare.bootstrap` wires them."""
