"""pytest fixtures and markers for OpenAI-SDK chaos and LLM cassettes."""
