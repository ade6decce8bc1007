"""Stage 2: check the policy file against its JSON Schema, the specs against OpenAPI, and the
cross-references between them."""
