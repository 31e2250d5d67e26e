package io.boundless.engine.grammar;

import io.boundless.engine.format.Json;
import io.boundless.engine.grammar.Grammar.Builder;
import io.boundless.engine.grammar.Grammar.Builder.Element;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * JSON Schema compiled into a grammar whose every sentence is JSON that validates against the schema.
 * Where the schema allows more than a grammar can say cheaply, the grammar takes a subset that still
 * validates (objects hold their declared properties in the declared order, numbers with bounds have no
 * exponent, dates stop at day 28); what it cannot honour at all is refused by name, never ignored.
 *
 * <p>Supported: {@code type} (one or a list), {@code enum}, {@code const}, {@code anyOf}, {@code oneOf}
 * (as anyOf), a one-schema {@code allOf}, {@code $ref} into the document ({@code #}, {@code #/$defs/..},
 * {@code #/definitions/..}, recursion included), {@code nullable}; objects: {@code properties},
 * {@code required}, {@code additionalProperties}; arrays: {@code items}, {@code prefixItems},
 * {@code minItems}, {@code maxItems}; strings: {@code minLength}, {@code maxLength}, {@code pattern},
 * {@code format} (date, time, date-time, uuid, email, ipv4); numbers and integers: {@code minimum},
 * {@code maximum}, {@code exclusiveMinimum}, {@code exclusiveMaximum} (integer bounds for numbers).
 * Annotations (title, description, default, examples, ...) are ignored.
 */
public final class JsonSchema {
    private static final Set<String> ANNOTATIONS = Set.of("title", "description", "default", "examples", "$schema", "$id", "$comment",
            "deprecated", "readOnly", "writeOnly", "$defs", "definitions", "strict", "name");
    private static final int[] STRING_EXCLUDED = Builder.normalize(new int[] {0, 0x1F, '"', '"', '\\', '\\'});

    private final Builder b = new Builder();
    private final Object root;
    private final Map<String, String> refRules = new HashMap<>();

    private JsonSchema(Object root) {
        this.root = root;
        basics();
    }

    /** A grammar for the JSON values that validate against a schema given as JSON text. */
    public static Grammar compile(String schemaJson) {
        Object schema;
        try {
            schema = Json.parse(schemaJson);
        } catch (RuntimeException e) {
            throw new GrammarException("the JSON schema is not valid JSON: " + e.getMessage());
        }
        return compile(schema);
    }

    /** A grammar for a parsed schema (maps, lists, strings, numbers, booleans). */
    public static Grammar compile(Object schema) {
        JsonSchema c = new JsonSchema(schema);
        String top = c.rule(schema, "#", "root-value");
        c.b.rule("root", List.of(List.of(Builder.ref("ws"), Builder.ref(top), Builder.ref("ws"))));
        return c.b.build("root");
    }

    /** Any JSON object (OpenAI's {@code json_object}). */
    public static Grammar anyObject() {
        JsonSchema c = new JsonSchema(Map.of());
        c.b.rule("root", List.of(List.of(Builder.ref("ws"), Builder.ref("object"), Builder.ref("ws"))));
        return c.b.build("root");
    }

    // ---- the shared rules ---------------------------------------------------------------------

    private static List<Element> lit(String s) {
        return Builder.literal(s);
    }

    private static List<Element> seq(Object... parts) {
        List<Element> out = new ArrayList<>();
        for (Object p : parts) {
            switch (p) {
                case String s -> out.addAll(lit(s));
                case Element e -> out.add(e);
                case List<?> l -> l.forEach(x -> out.add((Element) x));
                default -> throw new IllegalArgumentException(String.valueOf(p));
            }
        }
        return out;
    }

    private void basics() {
        Element ws = Builder.ref("ws");
        // llama.cpp's whitespace: nothing, a space, or a line break and some indentation (bounded, so output cannot drift forever)
        b.rule("ws", List.of(List.of(), lit(" "), seq("\n", b.repeat(List.of(Builder.chars(' ', ' ', '\t', '\t')), 0, 20))));
        Element hex = Builder.chars('0', '9', 'a', 'f', 'A', 'F');
        b.rule("char", List.of(
                List.of(new Builder.Chars(Builder.complement(STRING_EXCLUDED))),
                seq("\\", Builder.chars('"', '"', '\\', '\\', '/', '/', 'b', 'b', 'f', 'f', 'n', 'n', 'r', 'r', 't', 't')),
                seq("\\u", hex, hex, hex, hex)));
        b.rule("string", List.of(seq("\"", b.star(List.of(Builder.ref("char"))), "\"")));
        Element digit = Builder.chars('0', '9');
        Element nonzero = Builder.chars('1', '9');
        b.rule("uint", List.of(List.of(digit), seq(nonzero, b.repeat(List.of(digit), 1, 15))));
        b.rule("integer", List.of(seq(b.optional(lit("-")), Builder.ref("uint"))));
        b.rule("fraction", List.of(seq(".", b.repeat(List.of(digit), 1, 15))));
        b.rule("exponent", List.of(seq(Builder.chars('e', 'e', 'E', 'E'), b.optional(List.of(Builder.chars('+', '+', '-', '-'))),
                b.repeat(List.of(digit), 1, 2))));
        b.rule("number", List.of(seq(Builder.ref("integer"), b.optional(List.of(Builder.ref("fraction"))),
                b.optional(List.of(Builder.ref("exponent"))))));
        b.rule("boolean", List.of(lit("true"), lit("false")));
        b.rule("null", List.of(lit("null")));
        b.rule("value", List.of(List.of(Builder.ref("object")), List.of(Builder.ref("array")), List.of(Builder.ref("string")),
                List.of(Builder.ref("number")), List.of(Builder.ref("boolean")), List.of(Builder.ref("null"))));
        Element member = b.define("member", List.of(seq(Builder.ref("string"), ws, ":", ws, Builder.ref("value"))));
        b.rule("object", List.of(seq("{", ws, "}"),
                seq("{", ws, member, b.star(seq(ws, ",", ws, member)), ws, "}")));
        b.rule("array", List.of(seq("[", ws, "]"),
                seq("[", ws, Builder.ref("value"), b.star(seq(ws, ",", ws, Builder.ref("value"))), ws, "]")));
    }

    // ---- schemas ----------------------------------------------------------------------------

    /** The name of a rule for the values that validate against the schema at this JSON pointer. */
    private String rule(Object schema, String path, String hint) {
        if (schema instanceof Boolean bool) {
            if (!bool) {
                throw new GrammarException(path + ": the schema false matches nothing");
            }
            return "value";
        }
        if (!(schema instanceof Map<?, ?> raw)) {
            throw new GrammarException(path + ": a schema must be an object or a boolean, got " + Json.write(schema));
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> s = (Map<String, Object>) raw;
        if (s.containsKey("$ref")) {
            if (s.size() > 1 && s.keySet().stream().anyMatch(k -> !k.equals("$ref") && !ANNOTATIONS.contains(k))) {
                throw new GrammarException(path + ": keywords beside $ref are not supported");
            }
            return ref(String.valueOf(s.get("$ref")), path);
        }
        List<List<Element>> alts = alternatives(s, path, hint);
        if (Boolean.TRUE.equals(s.get("nullable"))) {
            alts = new ArrayList<>(alts);
            alts.add(List.of(Builder.ref("null")));
        }
        return ((Builder.Ref) b.define(hint, alts)).rule();
    }

    private String ref(String ref, String path) {
        String known = refRules.get(ref);
        if (known != null) {
            return known;
        }
        if (!ref.startsWith("#")) {
            throw new GrammarException(path + ": only references into this schema (#...) are supported, got " + ref);
        }
        Object target = root;
        String pointer = ref.substring(1);
        if (!pointer.isEmpty()) {
            if (!pointer.startsWith("/")) {
                throw new GrammarException(path + ": $ref " + ref + " is not a JSON pointer");
            }
            for (String part : pointer.substring(1).split("/", -1)) {
                String key = part.replace("~1", "/").replace("~0", "~");
                if (target instanceof Map<?, ?> m && m.containsKey(key)) {
                    target = m.get(key);
                } else if (target instanceof List<?> l && key.matches("\\d+") && Integer.parseInt(key) < l.size()) {
                    target = l.get(Integer.parseInt(key));
                } else {
                    throw new GrammarException(path + ": $ref " + ref + " points at nothing");
                }
            }
        }
        String name = b.fresh("ref");
        refRules.put(ref, name);
        String body = rule(target, ref, "def");
        b.rule(name, List.of(List.of(Builder.ref(body))));
        return name;
    }

    private List<List<Element>> alternatives(Map<String, Object> s, String path, String hint) {
        for (String k : s.keySet()) {
            if (!ANNOTATIONS.contains(k) && !SUPPORTED.contains(k)) {
                throw new GrammarException(path + ": the JSON schema keyword '" + k + "' is not supported");
            }
        }
        if (s.containsKey("const")) {
            return List.of(lit(Json.write(s.get("const"))));
        }
        if (s.containsKey("enum")) {
            if (!(s.get("enum") instanceof List<?> values) || values.isEmpty()) {
                throw new GrammarException(path + ": enum must be a non-empty list");
            }
            List<List<Element>> out = new ArrayList<>();
            for (Object v : values) {
                out.add(lit(Json.write(v)));
            }
            return out;
        }
        for (String combo : List.of("anyOf", "oneOf")) {
            if (s.containsKey(combo)) {
                if (!(s.get(combo) instanceof List<?> list) || list.isEmpty()) {
                    throw new GrammarException(path + ": " + combo + " must be a non-empty list of schemas");
                }
                if (s.keySet().stream().anyMatch(k -> !k.equals(combo) && !ANNOTATIONS.contains(k) && !k.equals("nullable"))) {
                    throw new GrammarException(path + ": keywords beside " + combo + " are not supported (put them in each branch)");
                }
                List<List<Element>> out = new ArrayList<>();
                for (int k = 0; k < list.size(); k++) {
                    out.add(List.of(Builder.ref(rule(list.get(k), path + "/" + combo + "/" + k, hint + "-" + k))));
                }
                return out;
            }
        }
        if (s.containsKey("allOf")) {
            if (!(s.get("allOf") instanceof List<?> list) || list.size() != 1 || s.keySet().stream()
                    .anyMatch(k -> !k.equals("allOf") && !ANNOTATIONS.contains(k))) {
                throw new GrammarException(path + ": allOf is supported with one schema only");
            }
            return List.of(List.of(Builder.ref(rule(list.getFirst(), path + "/allOf/0", hint))));
        }
        Object type = s.get("type");
        List<String> types = new ArrayList<>();
        if (type == null) {
            types.addAll(inferTypes(s));
        } else if (type instanceof String t) {
            types.add(t);
        } else if (type instanceof List<?> l && !l.isEmpty()) {
            l.forEach(t -> types.add(String.valueOf(t)));
        } else {
            throw new GrammarException(path + ": type must be a string or a non-empty list of strings");
        }
        List<List<Element>> out = new ArrayList<>();
        for (String t : types) {
            out.add(switch (t) {
                case "string" -> string(s, path);
                case "integer" -> List.of(Builder.ref(integer(s, path)));
                case "number" -> List.of(Builder.ref(number(s, path)));
                case "boolean" -> List.of(Builder.ref("boolean"));
                case "null" -> List.of(Builder.ref("null"));
                case "object" -> object(s, path, hint);
                case "array" -> array(s, path, hint);
                default -> throw new GrammarException(path + ": unknown type '" + t + "'");
            });
        }
        return out;
    }

    private static final Set<String> SUPPORTED = Set.of("type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "nullable",
            "properties", "required", "additionalProperties", "items", "prefixItems", "minItems", "maxItems", "minLength", "maxLength",
            "pattern", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum");

    private static List<String> inferTypes(Map<String, Object> s) {
        if (s.containsKey("properties") || s.containsKey("required") || s.containsKey("additionalProperties")) {
            return List.of("object");
        }
        if (s.containsKey("items") || s.containsKey("prefixItems") || s.containsKey("minItems") || s.containsKey("maxItems")) {
            return List.of("array");
        }
        if (s.containsKey("pattern") || s.containsKey("minLength") || s.containsKey("maxLength") || s.containsKey("format")) {
            return List.of("string");
        }
        if (s.containsKey("minimum") || s.containsKey("maximum") || s.containsKey("exclusiveMinimum") || s.containsKey("exclusiveMaximum")) {
            return List.of("number");
        }
        return List.of("object", "array", "string", "number", "boolean", "null");
    }

    // ---- strings ---------------------------------------------------------------------------

    private static final Map<String, String> FORMATS = Map.of(
            "date", "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])",
            "time", "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?(Z|[+-](0[0-9]|1[0-7]):[0-5][0-9])",
            "date-time", "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?"
                    + "(Z|[+-](0[0-9]|1[0-7]):[0-5][0-9])",
            "uuid", "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "email", "[a-z0-9]([a-z0-9_+-]{0,30}[a-z0-9])?@[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?\\.(com|org|net|io|dev|ai|edu|uk|de|fr|jp)",
            "ipv4", "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}");

    private List<Element> string(Map<String, Object> s, String path) {
        int min = count(s, "minLength", path, 0);
        int max = count(s, "maxLength", path, -1);
        if (max >= 0 && max < min) {
            throw new GrammarException(path + ": maxLength " + max + " is below minLength " + min);
        }
        String pattern = s.get("pattern") instanceof String p ? p : null;
        if (s.containsKey("format")) {
            String f = String.valueOf(s.get("format"));
            pattern = FORMATS.get(f);
            if (pattern == null) {
                throw new GrammarException(path + ": string format '" + f + "' is not supported (supported: " + String.join(", ",
                        new java.util.TreeSet<>(FORMATS.keySet())) + ")");
            }
            if (s.containsKey("pattern")) {
                throw new GrammarException(path + ": pattern together with format is not supported");
            }
        }
        if (pattern != null) {
            if (min > 0 || max >= 0) {
                throw new GrammarException(path + ": minLength/maxLength together with a pattern are not supported; say the length in the pattern");
            }
            String body = pattern;
            if (body.startsWith("^")) {
                body = body.substring(1);
            }
            if (body.endsWith("$") && !body.endsWith("\\$")) {
                body = body.substring(0, body.length() - 1);
            }
            Element content = b.define("pattern", Regex.alternatives(body, b, STRING_EXCLUDED));
            return seq("\"", content, "\"");
        }
        if (min == 0 && max < 0) {
            return List.of(Builder.ref("string"));
        }
        return seq("\"", b.repeat(List.of(Builder.ref("char")), min, max), "\"");
    }

    private static int count(Map<String, Object> s, String key, String path, int absent) {
        Object v = s.get(key);
        if (v == null) {
            return absent;
        }
        if (!(v instanceof Long l) || l < 0 || l > 10_000) {
            throw new GrammarException(path + ": " + key + " must be an integer from 0 to 10000, got " + Json.write(v));
        }
        return (int) (long) l;
    }

    // ---- numbers ---------------------------------------------------------------------------

    private static Double bound(Map<String, Object> s, String key, String path) {
        Object v = s.get(key);
        if (v == null || v instanceof Boolean) {
            return null;
        }
        if (!(v instanceof Number n)) {
            throw new GrammarException(path + ": " + key + " must be a number");
        }
        return n.doubleValue();
    }

    private static final double LIMIT = 1e15;

    private String integer(Map<String, Object> s, String path) {
        Double min = bound(s, "minimum", path);
        Double max = bound(s, "maximum", path);
        Double emin = exclusive(s, "exclusiveMinimum", "minimum", path);
        Double emax = exclusive(s, "exclusiveMaximum", "maximum", path);
        Long lo = null;
        Long hi = null;
        if (min != null) {
            lo = (long) Math.ceil(min);
        }
        if (emin != null) {
            long v = (long) Math.floor(emin) + 1;
            lo = lo == null ? v : Math.max(lo, v);
        }
        if (max != null) {
            hi = (long) Math.floor(max);
        }
        if (emax != null) {
            long v = (long) Math.ceil(emax) - 1;
            hi = hi == null ? v : Math.min(hi, v);
        }
        if (lo == null && hi == null) {
            return "integer";
        }
        checkRange(lo, hi, path);
        if (lo != null && hi != null && lo > hi) {
            throw new GrammarException(path + ": no integer lies between the bounds (" + lo + " to " + hi + ")");
        }
        List<List<Element>> alts = new ArrayList<>();
        if (hi == null || hi >= 0) {
            alts.addAll(nonNegative(lo == null ? 0 : Math.max(lo, 0), hi == null ? -1 : hi));
        }
        if (lo == null || lo < 0) {
            long mlo = hi == null || hi >= 0 ? 1 : -hi;
            long mhi = lo == null ? -1 : -lo;
            for (List<Element> a : nonNegative(mlo, mhi)) {
                alts.add(seq("-", a));
            }
        }
        return ((Builder.Ref) b.define("integer-range", alts)).rule();
    }

    /** exclusiveMinimum as a number (draft 6+), or draft 4's boolean form (then the plain bound is exclusive). */
    private static Double exclusive(Map<String, Object> s, String key, String plain, String path) {
        Object v = s.get(key);
        if (Boolean.TRUE.equals(v)) {
            Double b = bound(s, plain, path);
            if (b == null) {
                throw new GrammarException(path + ": " + key + " true needs " + plain);
            }
            return b;
        }
        return bound(s, key, path);
    }

    private static void checkRange(Long lo, Long hi, String path) {
        if (lo != null && Math.abs(lo) > LIMIT || hi != null && Math.abs(hi) > LIMIT) {
            throw new GrammarException(path + ": bounds beyond ±1e15 are not supported");
        }
    }

    private String number(Map<String, Object> s, String path) {
        Double min = bound(s, "minimum", path);
        Double max = bound(s, "maximum", path);
        Double emin = exclusive(s, "exclusiveMinimum", "minimum", path);
        Double emax = exclusive(s, "exclusiveMaximum", "maximum", path);
        boolean draft4Min = Boolean.TRUE.equals(s.get("exclusiveMinimum"));
        boolean draft4Max = Boolean.TRUE.equals(s.get("exclusiveMaximum"));
        if (draft4Min) {
            min = null;
        }
        if (draft4Max) {
            max = null;
        }
        if (min == null && max == null && emin == null && emax == null) {
            return "number";
        }
        for (Double v : new Double[] {min, max, emin, emax}) {
            if (v != null && v != Math.rint(v)) {
                throw new GrammarException(path + ": bounds on a number must be integers here, got " + v + " (use an integer type or"
                        + " integer bounds)");
            }
        }
        // The lower bound: inclusive lo, or exclusive (then integer parts from lo+1: a subset that validates).
        Long lo = min == null ? null : (long) (double) min;
        boolean loInclusive = true;
        if (emin != null && (lo == null || emin >= lo)) {
            lo = (long) (double) emin;
            loInclusive = false;
        }
        Long hi = max == null ? null : (long) (double) max;
        boolean hiInclusive = true;
        if (emax != null && (hi == null || emax <= hi)) {
            hi = (long) (double) emax;
            hiInclusive = false;
        }
        checkRange(lo, hi, path);
        if (lo != null && hi != null && (lo > hi || lo.equals(hi) && !(loInclusive && hiInclusive))) {
            throw new GrammarException(path + ": no number lies between the bounds");
        }
        Element anyFraction = b.optional(List.of(Builder.ref("fraction")));
        Element zeroFraction = b.optional(seq(".", b.repeat(lit("0"), 1, 15)));
        List<List<Element>> alts = new ArrayList<>();
        // x >= 0: integer part I from A; I < B with any fraction, I = B with a zero fraction when B is inclusive.
        if (hi == null || hi > 0 || hi == 0 && hiInclusive) {
            long a = lo == null || lo <= 0 ? 0 : loInclusive ? lo : lo + 1;
            if (lo != null && lo == 0 && !loInclusive) {
                a = 1; // x > 0: integer parts from 1 (a subset)
            }
            if (hi == null) {
                for (List<Element> i : nonNegative(a, -1)) {
                    alts.add(seq(i, anyFraction));
                }
            } else {
                if (hi - 1 >= a) {
                    for (List<Element> i : nonNegative(a, hi - 1)) {
                        alts.add(seq(i, anyFraction));
                    }
                }
                if (hiInclusive && hi >= a) {
                    alts.add(seq(lit(Long.toString(hi)), zeroFraction));
                }
            }
        }
        // x < 0: magnitude m = -x with integer part M; m <= -lo (or < -lo), m >= -hi (or > -hi).
        if (lo == null || lo < 0) {
            long m0 = hi == null || hi >= 0 ? 0 : hiInclusive ? -hi : -hi + 1;
            if (lo == null) {
                for (List<Element> i : nonNegative(Math.max(m0, 0), -1)) {
                    alts.add(seq("-", i, anyFraction));
                }
            } else {
                long top = -lo;
                if (top - 1 >= m0) {
                    for (List<Element> i : nonNegative(m0, top - 1)) {
                        alts.add(seq("-", i, anyFraction));
                    }
                }
                if (loInclusive && top >= Math.max(m0, 1)) {
                    alts.add(seq(lit("-" + top), zeroFraction));
                }
            }
        }
        if (alts.isEmpty()) {
            throw new GrammarException(path + ": no number lies between the bounds");
        }
        return ((Builder.Ref) b.define("number-range", alts)).rule();
    }

    /** Decimal strings without leading zeros for the integers a..b (b -1: no upper bound; at most 16 digits then). */
    private List<List<Element>> nonNegative(long a, long b) {
        List<List<Element>> out = new ArrayList<>();
        int la = Long.toString(a).length();
        int lb = b < 0 ? la : Long.toString(b).length();
        for (int len = la; len <= lb; len++) {
            long lo = Math.max(a, len == 1 ? 0 : pow10(len - 1));
            long hi = b < 0 ? pow10(len) - 1 : Math.min(b, pow10(len) - 1);
            if (lo <= hi) {
                out.addAll(sameLength(Long.toString(lo), Long.toString(hi)));
            }
        }
        if (b < 0 && la < 16) { // any longer number
            out.add(seq(Builder.chars('1', '9'), this.b.repeat(List.of(Builder.chars('0', '9')), la, 15)));
        }
        return out;
    }

    private static long pow10(int n) {
        long v = 1;
        for (int i = 0; i < n; i++) {
            v *= 10;
        }
        return v;
    }

    /** Alternatives for the decimal strings from lo to hi, both of the same length. */
    private List<List<Element>> sameLength(String lo, String hi) {
        int n = lo.length();
        if (n == 0) {
            return List.of(List.of());
        }
        char a = lo.charAt(0);
        char z = hi.charAt(0);
        String restLo = lo.substring(1);
        String restHi = hi.substring(1);
        List<List<Element>> out = new ArrayList<>();
        if (a == z) {
            for (List<Element> r : sameLength(restLo, restHi)) {
                out.add(seq(Builder.character(a), r));
            }
            return out;
        }
        if (restLo.chars().allMatch(c -> c == '0') && restHi.chars().allMatch(c -> c == '9')) {
            out.add(seq(Builder.chars(a, z), b.repeat(List.of(Builder.chars('0', '9')), n - 1, n - 1)));
            return out;
        }
        for (List<Element> r : sameLength(restLo, "9".repeat(n - 1))) {
            out.add(seq(Builder.character(a), r));
        }
        if (a + 1 <= z - 1) {
            out.add(seq(Builder.chars(a + 1, z - 1), b.repeat(List.of(Builder.chars('0', '9')), n - 1, n - 1)));
        }
        for (List<Element> r : sameLength("0".repeat(n - 1), restHi)) {
            out.add(seq(Builder.character(z), r));
        }
        return out;
    }

    // ---- objects and arrays ------------------------------------------------------------------

    private List<Element> object(Map<String, Object> s, String path, String hint) {
        Element ws = Builder.ref("ws");
        Map<String, Object> props = new LinkedHashMap<>();
        if (s.get("properties") instanceof Map<?, ?> m) {
            m.forEach((k, v) -> props.put(String.valueOf(k), v));
        } else if (s.containsKey("properties")) {
            throw new GrammarException(path + ": properties must be an object");
        }
        List<String> required = new ArrayList<>();
        if (s.get("required") instanceof List<?> r) {
            r.forEach(x -> required.add(String.valueOf(x)));
        } else if (s.containsKey("required")) {
            throw new GrammarException(path + ": required must be a list of names");
        }
        for (String r : required) {
            props.putIfAbsent(r, Boolean.TRUE);
        }
        Object additional = s.get("additionalProperties");
        if (props.isEmpty()) {
            if (Boolean.FALSE.equals(additional)) {
                return seq("{", ws, "}");
            }
            String valueRule = additional == null || Boolean.TRUE.equals(additional) ? "value"
                    : rule(additional, path + "/additionalProperties", hint + "-extra");
            Element member = b.define("member", List.of(seq(Builder.ref("string"), ws, ":", ws, Builder.ref(valueRule))));
            return List.of(b.define(hint + "-map", List.of(seq("{", ws, "}"),
                    seq("{", ws, member, b.star(seq(ws, ",", ws, member)), ws, "}"))));
        }
        // Declared properties in order; optional ones may be left out. first(i): none written yet; after(i): some were.
        List<String> names = new ArrayList<>(props.keySet());
        int n = names.size();
        List<Element> kv = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String name = names.get(i);
            String valueRule = rule(props.get(name), path + "/properties/" + name, hint + "-" + name);
            kv.add(b.group(seq(Json.write(name), ws, ":", ws, Builder.ref(valueRule))));
        }
        String[] first = new String[n + 1];
        String[] after = new String[n + 1];
        for (int i = n; i >= 0; i--) {
            first[i] = b.fresh(hint + "-first");
            after[i] = b.fresh(hint + "-after");
        }
        for (int i = n; i >= 0; i--) {
            if (i == n) {
                b.rule(first[i], List.of(List.of()));
                b.rule(after[i], List.of(List.of()));
                continue;
            }
            boolean optional = !required.contains(names.get(i));
            List<List<Element>> f = new ArrayList<>();
            f.add(seq(kv.get(i), Builder.ref(after[i + 1])));
            List<List<Element>> a = new ArrayList<>();
            a.add(seq(ws, ",", ws, kv.get(i), Builder.ref(after[i + 1])));
            if (optional) {
                f.add(List.of(Builder.ref(first[i + 1])));
                a.add(List.of(Builder.ref(after[i + 1])));
            }
            b.rule(first[i], f);
            b.rule(after[i], a);
        }
        return seq("{", ws, Builder.ref(first[0]), ws, "}");
    }

    private List<Element> array(Map<String, Object> s, String path, String hint) {
        Element ws = Builder.ref("ws");
        int min = count(s, "minItems", path, 0);
        int max = count(s, "maxItems", path, -1);
        if (max >= 0 && max < min) {
            throw new GrammarException(path + ": maxItems " + max + " is below minItems " + min);
        }
        if (s.get("prefixItems") instanceof List<?> prefix) {
            Object rest = s.get("items");
            if (!Boolean.FALSE.equals(rest) && rest != null || max != prefix.size() && max >= 0 || min > prefix.size()) {
                throw new GrammarException(path + ": prefixItems is supported as a fixed tuple only (items: false, no other counts)");
            }
            List<Element> out = new ArrayList<>(lit("["));
            out.add(ws);
            for (int k = 0; k < prefix.size(); k++) {
                if (k > 0) {
                    out.addAll(seq(ws, ",", ws));
                }
                out.add(Builder.ref(rule(prefix.get(k), path + "/prefixItems/" + k, hint + "-" + k)));
            }
            out.addAll(seq(ws, "]"));
            return out;
        }
        Object items = s.get("items");
        String item = items == null ? "value" : rule(items, path + "/items", hint + "-item");
        if (max == 0) {
            return seq("[", ws, "]");
        }
        List<Element> more = b.repeat(seq(ws, ",", ws, Builder.ref(item)), Math.max(min - 1, 0), max < 0 ? -1 : max - 1);
        List<Element> some = seq("[", ws, Builder.ref(item), more, ws, "]");
        if (min == 0) {
            return List.of(b.define(hint + "-list", List.of(seq("[", ws, "]"), some)));
        }
        return some;
    }
}
