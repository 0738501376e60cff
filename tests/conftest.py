"""Shared fixtures. Helpers here are used across tests/unit and tests/integration."""
