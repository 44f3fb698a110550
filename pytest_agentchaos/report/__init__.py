"""Reports from the store: build, render, statistics and compare."""
