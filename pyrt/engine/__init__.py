"""The docker-like engine: a Python API over one root (pyrt.Client), a container store, bundles
from images, one monitor per run root, logs and volumes. See docs/engine.md."""
