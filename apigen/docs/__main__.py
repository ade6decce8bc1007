"""`python -m apigen.docs [-o FILE | --check FILE]`: see :mod:`apigen.docs`."""

from apigen.commands.docs_cmd import schema_docs

schema_docs(prog_name="python -m apigen.docs")
