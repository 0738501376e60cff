"""OCI runtime-spec models: parsed once at the edge into frozen records (pyrt.record).

`load_bundle(dir) -> Spec` is the entry point (pyrt.spec.config); it is imported lazily here
so that `import pyrt.spec.capabilities` and friends stay cheap.
"""
from __future__ import annotations


def load_bundle(bundle_dir: str):
    from pyrt.spec.config import load_bundle as _load
    return _load(bundle_dir)


def default_config() -> dict:
    from pyrt.spec.defaults import default_config as _default
    return _default()
