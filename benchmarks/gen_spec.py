"""Generate a synthetic OpenAPI 3.0 document with N operations and realistic path shapes.

Shapes (the mix seen in the corpus): services with a version prefix, collections and items,
nested sub-resources up to three levels, concrete siblings of templated paths
(``/orders/search`` beside ``/orders/{order_id}``), action paths, a parameter sharing a segment
with literal text (``/files/{file_id}.json``), several path parameters per path, shared
components referenced with ``$ref``. Deterministic for a given N.

    python benchmarks/gen_spec.py 10000 -o /tmp/ops10k.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from typing import Any

NOUNS = (
    "account address agent alert app asset attachment audit bank batch bill booking branch budget build "
    "calendar call campaign card cart case catalog channel charge check claim client cluster comment "
    "contact contract coupon credential customer dashboard deal device discount dispute document domain "
    "draft email employee endpoint event export feature feed file folder form fund group hook incident "
    "invoice issue item job key label lead ledger license link list location log mandate meeting member "
    "message metric model note notification offer order organization package page partner payment payout "
    "permission phone photo pipeline plan policy portfolio post price product project prompt queue quote "
    "receipt record recording refund region release report repository request review role rule run "
    "schedule secret segment server session shipment site snapshot source space subscription survey tag "
    "task team template tenant ticket token topic transaction transfer trigger upload user variant vendor "
    "video volume wallet webhook workflow workspace zone"
).split()
ACTIONS = ("archive", "restore", "cancel", "approve", "publish", "lock", "unlock", "retry", "clone", "verify")


def plural(noun: str) -> str:
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def _op(op_id: str, params: list[str], summary: str, body: bool = False, listing: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": op_id,
        "summary": summary,
        "tags": [op_id.split("_")[1]],
        "parameters": [{"$ref": "#/components/parameters/RequestId"}]
        + [{"name": p, "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"}} for p in params],
        "responses": {
            "200": {
                "description": "OK",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Page" if listing else "#/components/schemas/Resource"}}},
            },
            "404": {"$ref": "#/components/responses/NotFound"},
        },
    }
    if listing:
        op["parameters"] += [{"$ref": "#/components/parameters/Limit"}, {"$ref": "#/components/parameters/Cursor"}]
    if body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Resource"}}},
        }
    return op


def generate(n_ops: int, seed: int = 1) -> dict[str, Any]:
    rnd = random.Random(seed)
    paths: dict[str, dict[str, Any]] = {}
    count = 0

    def add(path: str, method: str, op: dict[str, Any]) -> None:
        nonlocal count
        if count >= n_ops or method in paths.get(path, {}):
            return
        paths.setdefault(path, {})[method] = op
        count += 1

    def resource(prefix: str, params: list[str], noun: str, depth: int, tag: str) -> None:
        coll = f"{prefix}/{plural(noun)}"
        pid = f"{noun}_id"
        ident = f"{tag}_{'_'.join(p[:-3] for p in [*params, pid])}"
        item = f"{coll}/{{{pid}}}"
        add(coll, "get", _op(f"list_{ident}", params, f"List {plural(noun)}", listing=True))
        add(coll, "post", _op(f"create_{ident}", params, f"Create a {noun}", body=True))
        if rnd.random() < 0.3:  # a concrete sibling of the templated item path
            add(f"{coll}/search", "post", _op(f"search_{ident}", params, f"Search {plural(noun)}", body=True))
        add(item, "get", _op(f"get_{ident}", [*params, pid], f"Get a {noun}"))
        add(item, "patch", _op(f"update_{ident}", [*params, pid], f"Update a {noun}", body=True))
        add(item, "delete", _op(f"delete_{ident}", [*params, pid], f"Delete a {noun}"))
        if rnd.random() < 0.15:  # a parameter sharing its segment with literal text
            add(f"{coll}/{{{pid}}}.json", "get", _op(f"export_{ident}", [*params, pid], f"Export a {noun}"))
        for action in rnd.sample(ACTIONS, rnd.randint(0, 2)):
            add(f"{item}/{action}", "post", _op(f"{action}_{ident}", [*params, pid], f"{action} a {noun}"))
        if depth < 3:
            for child in rnd.sample(NOUNS, rnd.randint(1, 4) if depth < 2 else rnd.randint(0, 2)):
                if child != noun and f"{child}_id" not in params:
                    resource(item, [*params, pid], child, depth + 1, tag)

    service = 0
    while count < n_ops:
        name = NOUNS[service % len(NOUNS)] + (f"{service // len(NOUNS) + 1}" if service >= len(NOUNS) else "")
        tag = name.replace("-", "_")
        prefix = f"/{name}/v{rnd.randint(1, 3)}"
        add(f"{prefix}/health", "get", _op(f"health_{tag}", [], f"{name} health"))
        for noun in rnd.sample(NOUNS, rnd.randint(2, 5)):
            resource(prefix, [], noun, 1, tag)
        service += 1

    return {
        "openapi": "3.0.3",
        "info": {"title": f"Synthetic API with {n_ops} operations", "version": "1.0.0"},
        "servers": [{"url": "/api"}],
        "paths": paths,
        "components": {
            "parameters": {
                "RequestId": {"name": "X-Request-ID", "in": "header", "schema": {"type": "string"}},
                "Limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                "Cursor": {"name": "cursor", "in": "query", "schema": {"type": "string"}},
            },
            "schemas": {
                "Resource": {
                    "type": "object",
                    "required": ["id"],
                    "properties": {
                        "id": {"type": "string"},
                        "name": {"type": "string", "maxLength": 200},
                        "created_at": {"type": "string", "format": "date-time"},
                        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                },
                "Page": {
                    "type": "object",
                    "properties": {
                        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Resource"}},
                        "next_cursor": {"type": "string", "nullable": True},
                    },
                },
                "Error": {"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}}},
            },
            "responses": {
                "NotFound": {
                    "description": "Not found",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
            },
        },
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("operations", type=int)
    ap.add_argument("-o", "--out", help="output file (default: stdout)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    text = json.dumps(generate(args.operations, args.seed), indent=1)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
