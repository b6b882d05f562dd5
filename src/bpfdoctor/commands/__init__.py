"""CLI commands; each module defines ``register(app)``. Only this package prints."""
