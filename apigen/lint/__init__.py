"""`apigen lint`: everything `validate` checks, plus rules with ids, severities and fix hints.

Stages: :mod:`.runner` compiles the policy (no rendering) and runs the rules of :mod:`.rules` on
the IR and the plan; :mod:`.settings` applies the policy file's ``lint:`` section and inline
``# apigen-lint: disable=RULE`` comments; :mod:`.cache` remembers the result by the content digest
of every input; :mod:`.output` prints text, JSON or SARIF 2.1.0.

This package's ``__init__`` imports nothing heavy: a cache hit must not load the compiler.
"""
