"""Checks of one object against one target kernel (issue 5); see ``checks.target``."""
