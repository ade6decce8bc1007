"""The developer-workflow commands (lint, diff, check, explain, schema-docs), one module each;
:mod:`apigen.cli` adds them to the ``apigen`` group."""
