"""Flask-free services: one state change = one call; they add and flush, the caller commits."""
