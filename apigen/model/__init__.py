"""Stage 3: the typed intermediate representation (IR) of the gateway.

Built from the validated policy data and the OpenAPI documents; every later stage reads only these
frozen dataclasses, never raw YAML.
"""
