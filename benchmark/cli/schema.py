"""`mirl schema`: JSON Schemas of mirl's boundary models."""

from __future__ import annotations

import json

from pydantic import TypeAdapter

from mirl import schemas


def main(args) -> int:
    if args.which == "answer":
        schema = TypeAdapter(schemas.Answer).json_schema()
    else:
        model = {"result": schemas.Result, "task": schemas.TaskSpec, "method": schemas.MethodInfo}[args.which]
        schema = model.model_json_schema()
    print(json.dumps(schema, indent=2))
    return 0
