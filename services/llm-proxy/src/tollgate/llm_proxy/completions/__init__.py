"""The OpenAI-compatible calls: chat completions, completions and embeddings, token-gated."""
