"""Run the linter: compile (no rendering), run the rules, apply the settings; cache the result."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urldefrag, urljoin

from apigen.diagnostics import Diagnostic, Severity
from apigen.lint import cache
from apigen.lint.findings import from_dict, to_dict

_SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass
class LintResult:
    findings: list[Diagnostic]
    cached: bool = False

    def count(self, severity: Severity) -> int:
        return sum(1 for d in self.findings if d.severity is severity)


def lint(policy: Path, display: str | None = None, use_cache: bool = True) -> LintResult:
    display = display if display is not None else str(policy)
    if use_cache:
        hit = cache.lookup(policy, variant=display)
        if hit is not None:
            return LintResult([from_dict(d) for d in hit], cached=True)
    findings, inputs = _lint_uncached(policy, display)
    findings = sorted(_unique(findings), key=lambda d: (*d.sort_key(), d.code))
    if use_cache and inputs is not None:
        cache.store(policy, inputs, [to_dict(d) for d in findings], variant=display)
    return LintResult(findings)


def _unique(findings: list[Diagnostic]) -> list[Diagnostic]:
    seen: dict[tuple, Diagnostic] = {}
    for d in findings:
        seen.setdefault((d.severity, d.message, d.position, d.code), d)
    return list(seen.values())


def _lint_uncached(policy: Path, display: str) -> tuple[list[Diagnostic], list[Path] | None]:
    from apigen.diagnostics import CompileError
    from apigen.lint.rules import RULES, LintContext
    from apigen.lint.settings import read_settings
    from apigen.pipeline import compile_policy

    try:
        compiled = compile_policy(policy, render=False, display=display)
    except CompileError as exc:
        return list(exc.diagnostics), _inputs_of_broken(policy)
    source = compiled.source
    findings = list(compiled.diagnostics)
    ctx = LintContext(source, compiled.config, compiled.plan, compiled.diagnostics)
    for r in RULES.values():
        if r.check is not None:
            findings.extend(r.check(ctx))
    text = source.path.read_text(encoding="utf-8-sig")
    settings = read_settings(source.data, text, source.pos, display, set(RULES))
    findings = settings.apply(findings, display)
    inputs = [policy, *compiled.plan.asset_inputs]  # key files, certificates, htpasswd, ...
    for api in compiled.config.apis:
        # As the compiler named it (symbolic links kept: the cache notices one retargeted).
        inputs += spec_files(source.base_dir / api.spec_file)
    return findings, inputs


def _inputs_of_broken(policy: Path) -> list[Path] | None:
    """Inputs of a policy that did not compile: the file itself and the specs it names, if they
    can be read (a missing file is never cached, so creating it is noticed). None (not cached)
    when the policy names other files (policies' key files, TLS certificates of the gateway or
    of upstreams): they are read only by a compile that gets that far, so their list is not
    known here."""
    from apigen.load.yaml_positions import YamlLoadError, load_yaml_with_positions, read_text

    try:
        data, _ = load_yaml_with_positions(read_text(policy, str(policy)), str(policy))
    except YamlLoadError:
        return [policy] if policy.is_file() else None
    gateway = data.get("gateway") if isinstance(data, dict) else None
    upstreams = data.get("upstreams") if isinstance(data, dict) else None
    if isinstance(data, dict) and data.get("policies"):
        return None
    # TLS certificates and keys (gateway, upstreams) are files too.
    if isinstance(gateway, dict) and gateway.get("tls"):
        return None
    if isinstance(upstreams, dict) and any(isinstance(u, dict) and u.get("tls") for u in upstreams.values()):
        return None
    inputs = [policy]
    apis = data.get("apis") if isinstance(data, dict) else None
    # `apis: 5` is a schema error, not a list to walk (it crashed lint; found by a hunt).
    for api in apis if isinstance(apis, list) else []:
        spec = api.get("spec") if isinstance(api, dict) else None
        if isinstance(spec, str):
            path = policy.resolve().parent / spec
            if not path.is_file():
                return None
            inputs += spec_files(path)
    return inputs


def spec_files(root: Path) -> list[Path]:
    """``root`` and every file its ``$ref``s reach (transitively), as the loader reaches them:
    from the file ``root`` resolves to, ``$ref``s joined as written. ``root`` is listed as named
    too (a symbolic link retargeted is a change)."""
    from apigen.load.spec_loader import file_refs, parse_document, uri_path
    from apigen.load.yaml_positions import YamlLoadError, read_text

    named = Path(os.path.abspath(root))
    seen: dict[str, Path] = {}
    try:
        todo = [named.resolve().as_uri()]
    except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
        return [named]
    while todo:
        uri = todo.pop()
        if uri in seen:
            continue
        path = uri_path(uri)
        seen[uri] = path
        try:
            doc = parse_document(read_text(path, str(path)), str(path))
        except (YamlLoadError, RecursionError):
            continue
        for ref in sorted(file_refs(doc)):
            target, _ = urldefrag(urljoin(uri, ref))
            if target.startswith("file://") and target not in seen:
                todo.append(target)
    return sorted({named, *seen.values()})
