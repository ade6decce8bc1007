"""Request validation compiled from the OpenAPI document into njs (see compile_njs.py)."""
