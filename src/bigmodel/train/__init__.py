"""The shared training machinery: exact checkpoint/resume, metrics logs and curves."""
