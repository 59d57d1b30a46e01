"""bigmodel: a toolkit for the whole family of large models."""

__version__ = "0.1.0"
