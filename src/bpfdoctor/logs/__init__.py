"""Verifier and loader output -> structured log: input handling, dialect, verifier line forms."""
