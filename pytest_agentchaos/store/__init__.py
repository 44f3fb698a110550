"""The event store: where every run, event and fault firing is kept."""
