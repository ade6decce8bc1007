"""Stage 1: read source files into plain Python data, keeping source positions where needed."""
