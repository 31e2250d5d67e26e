package io.boundless.engine.grammar;

import java.util.List;

/** JSON schemas of the kinds structured-output users send: nested objects, arrays, enums, bounds, patterns, anyOf, refs. */
final class Schemas {
    static final List<String> ALL = List.of(
            """
            {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name", "age"],
             "additionalProperties": false}""",
            """
            {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
             "required": ["city"]}""",
            """
            {"type": "array", "items": {"type": "integer"}}""",
            """
            {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 4}""",
            """
            {"type": "integer", "minimum": 1, "maximum": 10}""",
            """
            {"type": "integer", "minimum": -50, "maximum": 1234}""",
            """
            {"type": "integer", "exclusiveMinimum": 0}""",
            """
            {"type": "integer", "maximum": -7}""",
            """
            {"type": "number", "minimum": 0, "maximum": 1}""",
            """
            {"type": "number", "minimum": -3, "exclusiveMaximum": 5}""",
            """
            {"type": "number"}""",
            """
            {"type": "boolean"}""",
            """
            {"type": "null"}""",
            """
            {"enum": ["red", "green", "blue", 7, null, true]}""",
            """
            {"const": {"version": 2, "tags": ["a", "b"]}}""",
            """
            {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{3,5}$"}""",
            """
            {"type": "string", "pattern": "^(yes|no|maybe)( really)?$"}""",
            """
            {"type": "string", "minLength": 3, "maxLength": 8}""",
            """
            {"type": "string", "format": "date"}""",
            """
            {"type": "string", "format": "date-time"}""",
            """
            {"type": "string", "format": "uuid"}""",
            """
            {"type": "string", "format": "email"}""",
            """
            {"type": "string", "format": "ipv4"}""",
            """
            {"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}]}""",
            """
            {"type": ["string", "null"]}""",
            """
            {"type": "object", "properties": {"id": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string", "maxLength": 10},
             "maxItems": 3}, "owner": {"type": "object", "properties": {"name": {"type": "string"}, "email": {"type": "string",
             "format": "email"}}, "required": ["name"]}}, "required": ["id", "owner"]}""",
            """
            {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}, "c": {"type": "integer"}}}""",
            """
            {"type": "object", "additionalProperties": {"type": "number"}}""",
            """
            {"type": "object", "properties": {}, "additionalProperties": false}""",
            """
            {"$defs": {"node": {"type": "object", "properties": {"value": {"type": "integer"}, "children": {"type": "array",
             "items": {"$ref": "#/$defs/node"}, "maxItems": 2}}, "required": ["value"]}}, "$ref": "#/$defs/node"}""",
            """
            {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}, {"type": "boolean"}], "items": false}""",
            """
            {"type": "object", "properties": {"kind": {"const": "circle"}, "radius": {"type": "number", "minimum": 0}},
             "required": ["kind", "radius"], "additionalProperties": false}""",
            """
            {"oneOf": [{"type": "object", "properties": {"ok": {"const": true}, "value": {"type": "string"}}, "required": ["ok", "value"],
             "additionalProperties": false}, {"type": "object", "properties": {"ok": {"const": false}, "error": {"type": "string"}},
             "required": ["ok", "error"], "additionalProperties": false}]}""",
            """
            {"type": "object", "properties": {"name": {"type": "string", "description": "The name", "title": "Name"}, "score":
             {"type": "number", "default": 0}}, "required": ["name"], "title": "Result", "additionalProperties": false}""",
            """
            {"type": "object", "properties": {"matrix": {"type": "array", "items": {"type": "array", "items": {"type": "integer",
             "minimum": 0, "maximum": 9}, "minItems": 2, "maxItems": 2}, "minItems": 1, "maxItems": 3}}, "required": ["matrix"]}""",
            """
            {"type": "object", "properties": {"when": {"type": "string", "format": "time"}, "note": {"type": ["string", "null"]}},
             "required": ["when", "note"]}""",
            """
            {}""");

    private Schemas() {}
}
