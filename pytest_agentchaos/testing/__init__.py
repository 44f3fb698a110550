"""Offline test doubles for exercising agents without paid APIs."""
