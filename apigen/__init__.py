"""apigen: compile OpenAPI documents and a policy file into an NGINX gateway configuration."""

__version__ = "0.1.0"
