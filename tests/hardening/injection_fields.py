"""The table of user-controlled strings that reach the generated configuration.

Each `Field` says how to put a value into the inputs, whether apigen must accept it, and how the
value may legitimately be transformed on its way into nginx tokens. `test_injection.py` builds
every field once with `PLACEHOLDER` (the baseline) and then with hostile values, and compares the
two parsed configurations directive by directive.

To cover a new field (a policy kind's claim name, a CORS origin, a cookie name...), append a
`Field` to `FIELDS`: an `inject` function, an `accepts` predicate (the schema pattern, or None when
either outcome is fine) and the `transforms` the value may go through (identity for a quoted
value, `pcre_escape` for a regex built by apigen/plan/paths.py, `slug` for a generated name).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote

from apigen.model.openapi import base_path_problem, normalise_base_path, path_problem
from apigen.plan.assets import safe_file_name
from apigen.plan.paths import _PARAM, pcre_escape, raw_path_regex
from apigen.plan.planner import slug
from apigen.plan.routing import NEST_ABOVE
from apigen.validate.policy_schema import policy_schema
from tests.support.workspace import write_tls_file

# Letters and digits only: equal to its own slug, regex escape and file-name sanitising.
PLACEHOLDER = "Pholder7"

Policy = dict[str, Any]
Spec = dict[str, Any]


def identity(value: str) -> str:
    return value


def asset_name(value: str) -> str:
    return safe_file_name(PurePosixPath(value).name)


def schema_string(*where: str) -> Callable[[str], bool]:
    """The JSON Schema's own `pattern` and `maxLength` for the string at ``$defs/<where...>``."""
    node = policy_schema()["$defs"]
    for key in where:
        node = node[key]
    pattern = re.compile(node["pattern"])
    limit = node.get("maxLength", 1 << 30)
    return lambda v: pattern.search(v) is not None and len(v) <= limit


def matches(def_name: str) -> Callable[[str], bool]:
    return schema_string(def_name)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BAD_HEADER_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def no_control(value: str) -> bool:
    return not _CONTROL.search(value)


@dataclass(frozen=True)
class Field:
    name: str
    # inject(policy, spec, value, workspace_dir): put `value` into the inputs. Return False when
    # the value cannot even be placed (a file name the OS refuses): the build must then fail.
    inject: Callable[[Policy, Spec, str, Path], bool | None]
    # True: must build; False: must be rejected with a positioned error; None: either.
    accepts: Callable[[str], bool | None] = lambda v: True
    transforms: tuple[Callable[[str], str], ...] = (identity,)
    # The value the configuration should carry, when apigen deliberately changes it.
    intended: Callable[[str], str] = identity
    # Values the field cannot meaningfully take (hypothesis `assume`).
    usable: Callable[[str], bool] = lambda v: bool(v)
    # Run `nginx -t` on the bundle? (not for host names: nginx resolves them while testing)
    nginx_t: Callable[[str], bool] = lambda v: True
    # False for a name that only links parts of the policy (still checked: accepted or rejected).
    reaches_config: bool = True


def _spec_path(template: str) -> Callable[[Policy, Spec, str, Path], None]:
    def inject(policy: Policy, spec: Spec, value: str, ws: Path) -> None:
        path = template.replace("VALUE", value)
        item: dict[str, Any] = {"get": {"operationId": "hostile", "responses": {"200": {"description": "ok"}}}}
        if "{id}" in path:
            item["parameters"] = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
        spec["paths"][path] = item

    return inject


def _hashed_spec_path(policy: Policy, spec: Spec, value: str, ws: Path) -> None:
    """``/items/{id}/VALUE`` among enough siblings that the group's map is split by hashed
    segments and VALUE becomes a hash key of its own (ASCII-lowercased, see SegmentNode)."""
    param = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    for n in range(NEST_ABOVE + 1):  # with VALUE, a list longer than the split threshold
        op = {"operationId": f"sibling{n}", "responses": {"200": {"description": "ok"}}}
        spec["paths"][f"/items/{{id}}/sibling{n}"] = {"parameters": param, "get": op}
    _spec_path("/items/{id}/VALUE")(policy, spec, value, ws)


def _operation_id(policy: Policy, spec: Spec, value: str, ws: Path) -> None:
    spec["paths"]["/items"]["get"]["operationId"] = value


def _server_url(policy: Policy, spec: Spec, value: str, ws: Path) -> None:
    del policy["apis"][0]["base_path"]
    spec["servers"] = [{"url": "/" + value}]


def _server_url_path(value: str) -> str:
    """The base path as written (not decoded)."""
    # Server variables ({x}) take their (missing) defaults; the query part is dropped.
    url = re.sub(r"\{([^}]*)\}", "", "/" + value)
    # `//host/x` is scheme-relative: the path is what follows the host (model/openapi.py), and
    # the host may be anything (`//[` is not an IPv6 address): cut at the next slash.
    if url.startswith("//"):
        host_and_path = url[2:]
        url = "/" + host_and_path.split("/", 1)[1] if "/" in host_and_path else ""
    return url.split("?")[0].split("#")[0]


def _server_url_intended(value: str) -> str:
    return normalise_base_path(_server_url_path(value)).lstrip("/")


def _policy_base_path(policy: Policy, spec: Spec, value: str, ws: Path) -> None:
    policy["apis"][0]["base_path"] = "/" + value
    policy["apis"][0]["strip_base_path"] = True


def _server_name(policy: Policy, spec: Spec, value: str, ws: Path) -> None:
    policy["gateway"]["server_name"] = value


def _upstream_address(policy: Policy, spec: Spec, value: str, ws: Path) -> None:
    policy["upstreams"]["main"]["servers"][0]["address"] = value


def _header(side: str, what: str) -> Callable[[Policy, Spec, str, Path], None]:
    def inject(policy: Policy, spec: Spec, value: str, ws: Path) -> None:
        block = policy["policies"]["hdrs"][side]
        if what == "value":
            block["set"]["X-Hostile"] = value
        elif what == "name":
            block["set"][value] = "v"
        else:  # a list of names: remove / hide
            block[what] = [value]

    return inject


def _operation_header(policy: Policy, spec: Spec, value: str, ws: Path) -> None:
    policy["gateway"]["operation_header"] = value


def _tls_file(which: str) -> Callable[[Policy, Spec, str, Path], bool]:
    def inject(policy: Policy, spec: Spec, value: str, ws: Path) -> bool:
        name = "certs/" + value
        policy["gateway"]["tls"]["certificate" if which == "cert" else "key"] = name
        try:
            target = ws / name
            if not target.resolve().is_relative_to(ws.resolve()) or target.exists():
                return False  # `..` or an existing directory: not a file we made
            write_tls_file(target, which)
        except (OSError, ValueError):
            return False
        return target.is_file()

    return inject


def _rename(section: str) -> Callable[[Policy, Spec, str, Path], None]:
    def inject(policy: Policy, spec: Spec, value: str, ws: Path) -> None:
        if section == "api":
            policy["apis"][0]["name"] = value
        elif section == "upstream":
            policy["upstreams"] = {value: policy["upstreams"]["main"]}
            policy["apis"][0]["upstream"] = value
        elif section == "policy":
            policy["policies"] = {value: policy["policies"]["hdrs"]}
            policy["apis"][0]["use"] = [value]

    return inject


def _route_path(value: str) -> str:
    # A fragment is not part of the route, and percent-escapes are decoded: nginx matches the
    # decoded URI (model/openapi.py).
    return unquote(value.split("#", 1)[0])


def _path_accepts(value: str) -> bool | None:
    if not no_control(value) or not no_control(unquote(value)):
        return False
    if path_problem(value):  # an encoded brace or separator, a backslash: cannot be routed
        return False
    # openapi-spec-validator parses path templates and rejects some unbalanced braces itself.
    return None if "{" in value or "}" in value else True


def _path_usable(value: str) -> bool:
    routed = _route_path(value)
    # `{x}` is path-template syntax, not a hostile literal; empty and `/`-only segments change the
    # route's shape (a different, legitimate routing case).
    return bool(routed) and not _PARAM.search(value) and "//" not in "/items/" + routed and not routed.endswith("/")


_BASE_PATH = schema_string("api", "properties", "base_path")
_ADDRESS = schema_string("server", "properties", "address")

FIELDS: tuple[Field, ...] = (
    Field(
        "spec.path.concrete",
        _spec_path("/items/VALUE"),
        accepts=_path_accepts,
        intended=_route_path,
        # Longer than nginx's 255-byte location names, a concrete path is routed by a group map
        # (another structure, tests/live/test_long_paths_live.py).
        usable=lambda v: _path_usable(v) and len(("/items/" + _route_path(v)).encode()) <= 255,
    ),
    Field(
        "spec.path.templated",
        _spec_path("/items/{id}/VALUE"),
        accepts=_path_accepts,
        transforms=(identity, pcre_escape),
        intended=_route_path,
        usable=_path_usable,
    ),
    Field(
        "spec.path.hashed",
        _hashed_spec_path,
        accepts=_path_accepts,
        transforms=(identity, pcre_escape),  # and, where the placeholder is lowercased, ascii_lower
        intended=_route_path,
        usable=lambda v: _path_usable(v) and "/" not in _route_path(v) and not _route_path(v).startswith("sibling"),
    ),
    Field("spec.operationId", _operation_id, accepts=no_control, transforms=(identity, slug)),
    Field(
        "spec.servers.url",
        _server_url,
        accepts=lambda v: base_path_problem(normalise_base_path(_server_url_path(v)), _server_url_path(v)) is None,
        transforms=(identity, pcre_escape),
        intended=_server_url_intended,
        usable=lambda v: 0 < len(_server_url_intended(v).encode()) < 200
        and "//" not in _server_url_intended(v)
        and not _PARAM.search(_server_url_intended(v)),
    ),
    Field(
        "policy.apis.base_path",
        _policy_base_path,
        # Decoded like spec paths; dot or empty segments (also encoded) are refused.
        accepts=lambda v: _BASE_PATH("/" + v) and base_path_problem(normalise_base_path("/" + v), "/" + v) is None,
        transforms=(identity, pcre_escape, raw_path_regex),
        intended=lambda v: normalise_base_path("/" + v).lstrip("/"),
        # Short enough that the base prefix and the routes stay within nginx's 255-byte location
        # names (longer ones route through group maps: another structure).
        usable=lambda v: bool(v.strip("/")) and "//" not in v and not v.endswith("/") and len(v.encode()) < 200,
    ),
    # `_` (any host) switches the unknown-host default server off: a different tree, not an injection.
    Field("policy.gateway.server_name", _server_name, accepts=matches("server_name"), usable=lambda v: v != "_"),
    Field(
        "policy.upstreams.address",
        _upstream_address,
        accepts=_ADDRESS,
        nginx_t=lambda v: re.match(r"^(unix:|\[|[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+(:|$))", v) is not None,
    ),
    Field("policy.headers.request.value", _header("request", "value"), accepts=lambda v: not _BAD_HEADER_VALUE.search(v)),
    Field("policy.headers.response.value", _header("response", "value"), accepts=lambda v: not _BAD_HEADER_VALUE.search(v)),
    Field("policy.headers.request.name", _header("request", "name"), accepts=matches("header_name")),
    Field("policy.headers.request.remove", _header("request", "remove"), accepts=matches("header_name")),
    Field("policy.headers.response.hide", _header("response", "hide"), accepts=matches("header_name")),
    Field("policy.gateway.operation_header", _operation_header, accepts=matches("header_name")),
    Field("policy.gateway.tls.certificate", _tls_file("cert"), accepts=lambda v: None, transforms=(asset_name,)),
    Field("policy.gateway.tls.key", _tls_file("key"), accepts=lambda v: None, transforms=(asset_name,)),
    Field("policy.apis.name", _rename("api"), accepts=matches("name"), transforms=(identity, slug)),
    Field("policy.upstreams.name", _rename("upstream"), accepts=matches("name")),
    Field("policy.policies.name", _rename("policy"), accepts=matches("name"), reaches_config=False),
)

