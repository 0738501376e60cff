"""Runs an OCI bundle. Knows nothing of images or networks."""
