"""`apigen diff`: what the current inputs compile to, against an existing bundle directory or the
inputs at a git ref. Three views: per-file unified diff (:mod:`.textdiff`), semantic diff of the
parsed configuration by context path (:mod:`.semantic`), and a summary in user terms: routes
added/removed and policies changed per operation (:mod:`.summary`)."""
