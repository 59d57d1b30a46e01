"""Per-family metrics, the hallucination benchmark, reports and plots."""
