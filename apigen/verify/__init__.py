"""Last compiler stage: check a generated bundle by parsing it back, against the target's
directive table, and (for OSS) with a real ``nginx -t``."""

from .context_check import OPAQUE_BLOCKS, check_directives_for_target
from .crossplane_table import EXTRA_DIRECTIVES, extend_crossplane_directives
from .nginx_test import (
    NginxMessage,
    NginxNotFoundError,
    NginxTestResult,
    parse_nginx_output,
    run_nginx_t,
)
from .parse import (
    ConfigError,
    DirectiveRef,
    ParseResult,
    block_label,
    iter_directives,
    parse_bundle,
)

__all__ = [
    "EXTRA_DIRECTIVES",
    "OPAQUE_BLOCKS",
    "ConfigError",
    "DirectiveRef",
    "NginxMessage",
    "NginxNotFoundError",
    "NginxTestResult",
    "ParseResult",
    "block_label",
    "check_directives_for_target",
    "extend_crossplane_directives",
    "iter_directives",
    "parse_bundle",
    "parse_nginx_output",
    "run_nginx_t",
]
