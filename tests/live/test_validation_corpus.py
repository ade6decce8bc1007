"""Real documents from ../shared/corpus: requests built from their own example values pass the
generated validator and reach the backend with the body unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from apigen.pipeline import compile_policy
from tests.live.corpus_examples import example_requests
from tests.live.validation_support import build_gateway, nginx_t_ok
from tests.support.corpus import corpus_dir
from tests.support.http import request
from tests.support.nginx import requires_nginx

CORPUS = corpus_dir() or Path("/nonexistent-corpus")
DOCS = [
    "box-openapi.json",
    "twilio_api_v2010.yaml",
    "oai-examples/v3.0-api-with-examples.yaml",
    "oai-examples/v3.0-uspto.yaml",
    "oai-examples/v3.1-tictactoe.yaml",
    "oai-examples/v2.0-petstore-expanded.yaml",
    "oai-examples/v3.0-petstore-expanded.yaml",
]
POLICIES = {"validate": {"kind": "validation", "unsupported_keywords": "warn", "max_body_size": "64k"}}

pytestmark = [
    pytest.mark.live,
    pytest.mark.slow,
    requires_nginx,
    pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not found at {CORPUS}"),
]


@pytest.mark.parametrize("doc", DOCS)
def test_document_examples_pass(doc: str, tmp_path, echo_backend, nginx_runner) -> None:
    backend = echo_backend("corpus")
    bundle, port = build_gateway(
        tmp_path, backend.address, POLICIES, [{"name": "api", "spec": str(CORPUS / doc), "use": ["validate"]}]
    )
    nginx_t_ok(bundle)
    gw = nginx_runner(bundle, port)
    compiled = compile_policy(tmp_path / "policy.json", render=False)
    api = compiled.config.apis[0]
    # Operations whose route another operation owns (Box's `#fragment` aliases) are never reached.
    routed = {o.operation_id for o in compiled.plan.apis[0].operations}
    sent = bad_examples = 0
    failures = []
    for ex in example_requests(api):
        if ex.op.operation_id not in routed:
            continue
        r = request(ex.method, gw.url + ex.target, headers=ex.headers, body=ex.body)
        sent += 1
        if r.status == 200 and r.headers.get("X-Backend") == "corpus":
            if ex.body is not None:
                assert r.json()["body"].encode() == ex.body
            continue
        if r.status == 400 and ex.body_schema is not None and not example_is_valid(api, ex):
            bad_examples += 1  # the document's example contradicts its own schema: rejecting it is right
            continue
        failures.append(f"{ex.method} {ex.target} {ex.body!r:.200}: {r.status} {r.text[:300]}")
    print(f"{doc}: {sent} example requests, {bad_examples} examples invalid by jsonschema too")
    assert sent > 0
    assert bad_examples <= sent // 20
    assert not failures, "\n".join(failures[:20])


def example_is_valid(api, ex) -> bool:
    """The `jsonschema` library's verdict on the example body (OpenAPI 3.0 `nullable` turned into
    a JSON Schema type union)."""
    schema, uri = ex.body_schema
    specs = api.specs
    registry = Registry().with_resources(
        (doc_uri, Resource.from_contents(with_nulls(doc), default_specification=DRAFT202012))
        for doc_uri, doc in specs.documents.items()
    )
    validator = (
        jsonschema.Draft202012Validator({"$ref": uri + "#" + pointer_of(specs, schema, uri)}, registry=registry)
        if isinstance(schema, dict) and "$ref" in schema
        else jsonschema.Draft202012Validator(with_nulls(schema), registry=registry)
    )
    return validator.is_valid(json.loads(ex.body))


def pointer_of(specs, schema, uri) -> str:
    _, _, pointer = specs.resolve(schema["$ref"], uri)
    return pointer


def with_nulls(node):
    if isinstance(node, dict):
        out = {k: with_nulls(v) for k, v in node.items()}
        if out.get("nullable") is True and isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        return out
    if isinstance(node, list):
        return [with_nulls(v) for v in node]
    return node
