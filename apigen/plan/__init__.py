"""Stage 4: decide everything the templates print: locations and their order, regexes, maps,
zone names, per-operation effective policies."""
