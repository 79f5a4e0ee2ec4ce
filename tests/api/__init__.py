"""JSON API v1 tests."""
