"""Built-in recovery strategies, one module each."""
