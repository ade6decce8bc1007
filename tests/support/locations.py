"""Find an operation's internal location in a rendered api_conf.d file: operations that render
identically share one, listed in the comment lines above it (see _share_locations)."""

from __future__ import annotations

import re


def operation_location(conf: str, api: str, operation_id: str) -> tuple[str, str]:
    """(named location, body) of the location serving ``api.operation_id``."""
    m = re.search(
        rf"    # [^\n]*\({re.escape(api)}\.{re.escape(operation_id)}\)\n(?:    # [^\n]*\n)*"
        r'    location "(@[^"]+)" \{\n(.*?)\n    \}\n',
        conf,
        re.S,
    )
    assert m, f"no location for {api}.{operation_id}"
    return m.group(1), m.group(2)
