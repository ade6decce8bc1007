"""Render a :class:`Plan` into a :class:`Bundle` with Jinja2.

Templates only loop and branch. Every value they print must come out of a quoting filter
(``q``, ``qv``, ``mapkey``, ``mapregex``, ``route_value``, ``bare``, ``var``, ``comment``) or be the output of a macro:
``finalize`` rejects anything else, so a template cannot paste user input into the configuration
by accident. (Autoescape is on only so that macro output arrives as ``Markup`` and can be told
apart from a plain string; nothing is ever HTML-escaped because nothing unmarked gets through.)
"""

from __future__ import annotations

import functools
from typing import Any

import jinja2
from markupsafe import Markup

from apigen.bundle import Bundle
from apigen.cache import cache_dir
from apigen.plan.planner import Plan
from apigen.plan.routing import CapturedRoute
from apigen.render.quoting import (
    Arg,
    UnquotableError,
    bare,
    expr,
    map_key,
    map_regex_key,
    quote,
    quote_with_capture,
    variable,
)
from apigen.resources import templates_dir


class UnsafeTemplateValue(TypeError):
    pass


def _finalize(value: Any) -> Any:
    if isinstance(value, (Arg, Markup)) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if value is None:
        raise UnsafeTemplateValue("template printed None")
    raise UnsafeTemplateValue(f"template printed an unquoted value {value!r}; use a quoting filter")


def _var(name: str) -> Arg:
    try:
        return variable(name)
    except UnquotableError as err:
        raise UnsafeTemplateValue(str(err)) from None


def bare_or_arg(value: Any) -> str:
    if not isinstance(value, Arg):
        raise UnsafeTemplateValue(f"join_args needs quoted tokens, got {value!r}")
    return str(value)


def _comment(text: str) -> Arg:
    # Inside a `#` comment only a line break could escape; drop every control character. Long
    # values are cut: nginx rejects a comment line longer than its 4096-byte token buffer.
    text = "".join(ch if ch.isprintable() else "?" for ch in str(text))
    return Arg(text if len(text) <= 120 else text[:117] + "...")


def _route_value(value: str | CapturedRoute) -> Arg:
    """A route map's value: a route id, or a sibling's id rebuilt from the regex's capture."""
    if isinstance(value, CapturedRoute):
        return quote_with_capture(value.before, value.after)
    return quote(value, variables=True)


class _BytecodeCache(jinja2.FileSystemBytecodeCache):
    """Jinja2's file-system cache of compiled templates, skipped when it cannot be read or
    written, like every apigen cache (apigen/cache.py): Jinja2 raises the OSError, and a cache
    directory on a full disk (or over its quota) made a valid build an internal error, exit 3
    (found by a hunt)."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except OSError:
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    compiled = cache_dir("jinja2")  # compiled templates: skips re-parsing them on every run
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        bytecode_cache=_BytecodeCache(str(compiled)) if compiled else None,
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_finalize,
    )
    env.filters.update(
        q=lambda v: quote(v),
        qv=lambda v: quote(v, variables=True),
        route_value=_route_value,
        mapkey=map_key,
        mapregex=map_regex_key,
        bare=lambda v: bare(str(v)),
        var=_var,
        expr=expr,  # apigen-built expressions of validated variable names only
        comment=_comment,
        join_args=lambda args: Arg(" ".join(bare_or_arg(a) for a in args)),
    )
    return env


def render_plan(plan: Plan) -> Bundle:
    env = environment()
    bundle = Bundle()

    def put(path: str, template: str, **extra: Any) -> None:
        text = env.get_template(template).render(plan=plan, file=path, **extra)
        bundle.add(path, text)

    put("nginx.conf", "nginx.conf.j2")
    put("api_gateway.conf", "api_gateway.conf.j2")
    put("api_maps.conf", "api_maps.conf.j2")
    put("api_backends.conf", "api_backends.conf.j2")
    put("api_json_errors.conf", "api_json_errors.conf.j2")
    for api in plan.apis:
        put(api.file, "api.conf.j2", api=api)
    from apigen.policies import registry

    for use in plan.policy_http:
        for extra in registry[use.kind].bundle_files(use.plan, plan.config, plan.source_dir):
            bundle.add(extra.path, extra.text, extra.mode)
    for asset in plan.assets:
        bundle.add(asset.bundle_path, asset.text, asset.mode)
    bundle.add_dir("logs")
    bundle.add_dir("temp")
    return bundle
