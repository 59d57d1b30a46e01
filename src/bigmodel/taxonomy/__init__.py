"""The taxonomy of large models: families, the "large" rule, and reading any checkpoint's kind."""
