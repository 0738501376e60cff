"""The docker-like engine: container store, bundles from images, monitor, logs."""
