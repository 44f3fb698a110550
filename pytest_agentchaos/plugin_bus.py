"""pytest fixtures and markers for the message bus (``agentchaos_bus``)."""
