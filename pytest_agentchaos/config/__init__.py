"""Settings, marker reading and validation, YAML scenarios: everything a user writes,
turned into validated values. Below the engine; never imports pytest."""
