"""OCI runtime-spec models: parsed once at the edge into frozen dataclasses."""
