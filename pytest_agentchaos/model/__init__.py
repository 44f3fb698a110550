"""Pure data and pure functions: fault models, outcomes, records, protocol messages,
corruptions and the seeded schedule. Imports nothing of the package but ``errors``."""
