"""Renderers: each takes frozen results and returns a string; only the CLI prints."""
