package io.boundless.tokenizer.template;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Python semantics for template values, as Jinja running under Python gives them: truthiness,
 * {@code str()}, equality and ordering across int and float, and {@code json.dumps}.
 *
 * <p>Values are {@code null} (None), {@link Boolean}, {@link Long}, {@link Double}, {@link String},
 * {@link List}, {@link Map} (insertion order; keys as the template or the JSON gave them), {@link #UNDEFINED},
 * a {@link Markup}, a {@link Generator}, or a callable.
 */
final class Values {
    /** Jinja's Undefined: falsy, renders as "", equal only to itself. */
    static final Object UNDEFINED = new Object() {
        @Override
        public String toString() {
            return "Undefined";
        }
    };

    /**
     * A string marked safe ({@code |safe}, {@code |escape}): Python's {@code markupsafe.Markup}. It renders as
     * it is, and {@code +} with a plain string HTML-escapes that string first, as Markup's {@code __add__} and
     * {@code __radd__} do (functionary's template relies on it). Everywhere else it is its string.
     */
    record Markup(String s) {
        @Override
        public String toString() {
            return s;
        }
    }

    /**
     * What Jinja's {@code map}, {@code select}, {@code reject}, {@code unique} and {@code reverse} filters return:
     * a Python generator. It iterates once (a second loop sees nothing), is always true, and has no length, no
     * index and no JSON form; {@code |list} makes a list of it.
     */
    static final class Generator {
        private List<Object> items;

        Generator(List<Object> items) {
            this.items = items;
        }

        List<Object> drain() {
            List<Object> out = items;
            items = new ArrayList<>();
            return out;
        }
    }

    /** A Markup's string; anything else as it is. */
    static Object plain(Object v) {
        return v instanceof Markup m ? m.s() : v;
    }

    /** Something that can be called from a template: a macro, a global function, a bound method. */
    @FunctionalInterface
    interface Callable {
        Object call(List<Object> args, Map<String, Object> kwargs);
    }

    static boolean truthy(Object v) {
        return switch (plain(v)) {
            case null -> false;
            case Boolean b -> b;
            case Long l -> l != 0;
            case Double d -> d != 0.0;
            case String s -> !s.isEmpty();
            case Collection<?> c -> !c.isEmpty();
            case Map<?, ?> m -> !m.isEmpty();
            default -> v != UNDEFINED;
        };
    }

    static String str(Object v) {
        return switch (v) {
            case null -> "None";
            case String s -> s;
            case Markup m -> m.s();
            case Generator g -> "<generator object>";
            case Boolean b -> b ? "True" : "False";
            case Double d -> pyFloat(d);
            case Long l -> l.toString();
            default -> v == UNDEFINED ? "" : repr(v);
        };
    }

    static String repr(Object v) {
        return switch (plain(v)) {
            case null -> "None";
            case String s -> pyStringRepr(s);
            case Boolean b -> b ? "True" : "False";
            case Double d -> pyFloat(d);
            case Long l -> l.toString();
            case List<?> list -> {
                StringBuilder sb = new StringBuilder("[");
                for (int i = 0; i < list.size(); i++) {
                    sb.append(i == 0 ? "" : ", ").append(repr(list.get(i)));
                }
                yield sb.append(']').toString();
            }
            case Map<?, ?> map -> {
                StringBuilder sb = new StringBuilder("{");
                boolean first = true;
                for (Map.Entry<?, ?> e : map.entrySet()) {
                    sb.append(first ? "" : ", ").append(repr(e.getKey())).append(": ").append(repr(e.getValue()));
                    first = false;
                }
                yield sb.append('}').toString();
            }
            default -> v == UNDEFINED ? "" : v.toString();
        };
    }

    private static String pyStringRepr(String s) {
        char q = s.contains("'") && !s.contains("\"") ? '"' : '\'';
        StringBuilder sb = new StringBuilder().append(q);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\n' -> sb.append("\\n");
                case '\t' -> sb.append("\\t");
                case '\r' -> sb.append("\\r");
                case '\\' -> sb.append("\\\\");
                default -> {
                    if (c == q) {
                        sb.append('\\');
                    }
                    sb.append(c);
                }
            }
        }
        return sb.append(q).toString();
    }

    static String pyFloat(double d) {
        if (Double.isNaN(d)) {
            return "nan";
        }
        if (Double.isInfinite(d)) {
            return d > 0 ? "inf" : "-inf";
        }
        if (d == Math.rint(d) && Math.abs(d) < 1e16) {
            return BigDecimal.valueOf(d).toBigInteger().toString() + ".0";
        }
        String s = Double.toString(d);
        if (s.contains("E")) {
            // Python writes 1e-05 where Java writes 1.0E-5.
            String[] parts = s.split("E");
            String mantissa = parts[0].endsWith(".0") ? parts[0].substring(0, parts[0].length() - 2) : parts[0];
            int exp = Integer.parseInt(parts[1]);
            return mantissa + "e" + (exp < 0 ? "-" : "+") + String.format("%02d", Math.abs(exp));
        }
        return s;
    }

    static boolean isNumber(Object v) {
        return v instanceof Long || v instanceof Double || v instanceof Boolean;
    }

    static double toDouble(Object v) {
        return switch (v) {
            case Long l -> l;
            case Double d -> d;
            case Boolean b -> b ? 1 : 0;
            default -> throw new TemplateException("expected a number, got " + typeName(v));
        };
    }

    static boolean equal(Object a, Object b) {
        a = plain(a);
        b = plain(b);
        if (a == b) {
            return true;
        }
        if (a == null || b == null || a == UNDEFINED || b == UNDEFINED) {
            return false;
        }
        if (isNumber(a) && isNumber(b)) {
            return toDouble(a) == toDouble(b);
        }
        if (a instanceof List<?> x && b instanceof List<?> y) {
            if (x.size() != y.size()) {
                return false;
            }
            for (int i = 0; i < x.size(); i++) {
                if (!equal(x.get(i), y.get(i))) {
                    return false;
                }
            }
            return true;
        }
        return a.equals(b);
    }

    static int compare(Object a, Object b) {
        a = plain(a);
        b = plain(b);
        if (isNumber(a) && isNumber(b)) {
            return Double.compare(toDouble(a), toDouble(b));
        }
        if (a instanceof String x && b instanceof String y) {
            return x.compareTo(y);
        }
        throw new TemplateException("'<' not supported between " + typeName(a) + " and " + typeName(b));
    }

    static String typeName(Object v) {
        return switch (v) {
            case null -> "NoneType";
            case String s -> "str";
            case Markup s -> "str";
            case Generator g -> "generator";
            case Long l -> "int";
            case Double d -> "float";
            case Boolean b -> "bool";
            case List<?> l -> "list";
            case Map<?, ?> m -> "dict";
            default -> v == UNDEFINED ? "Undefined" : "object";
        };
    }

    /** The items a for loop visits: list elements, dict keys, string characters. */
    static List<Object> iterate(Object v) {
        return switch (plain(v)) {
            case null -> throw new TemplateException("'NoneType' object is not iterable");
            case Generator g -> g.drain();
            case List<?> l -> new ArrayList<>(l);
            case Map<?, ?> m -> new ArrayList<>(m.keySet());
            case String s -> {
                List<Object> out = new ArrayList<>();
                s.codePoints().forEach(cp -> out.add(Character.toString(cp)));
                yield out;
            }
            default -> {
                if (v == UNDEFINED) {
                    yield new ArrayList<>();
                }
                throw new TemplateException("'" + typeName(v) + "' object is not iterable");
            }
        };
    }

    /** dict.items(): [key, value] pairs in the map's order (lists, since values may be None). */
    /** Jinja's {@code ignore_case}: strings lower-cased, anything else as it is (sort keys of the sort filters). */
    static Object ignoreCase(Object v) {
        return plain(v) instanceof String s ? s.toLowerCase(java.util.Locale.ROOT) : v;
    }

    static List<Object> items(Map<?, ?> m) {
        List<Object> out = new ArrayList<>(m.size());
        m.forEach((k, v) -> {
            List<Object> pair = new ArrayList<>(2);
            pair.add(k);
            pair.add(v);
            out.add(pair);
        });
        return out;
    }

    static int length(Object v) {
        return switch (plain(v)) {
            case String s -> s.codePointCount(0, s.length());
            case Collection<?> c -> c.size();
            case Map<?, ?> m -> m.size();
            default -> {
                if (v == UNDEFINED) {
                    yield 0;
                }
                throw new TemplateException("object of type '" + typeName(v) + "' has no len()");
            }
        };
    }

    /** Python's json.dumps(v, ensure_ascii=False, indent=indent, sort_keys=sortKeys). */
    static String toJson(Object v, Integer indent, boolean sortKeys) {
        return toJson(v, indent, sortKeys, false, null, null);
    }

    /**
     * Python's json.dumps with its keyword arguments: separators default to (", ", ": "), or
     * (",", ": ") with an indent; ensure_ascii writes every non-ASCII UTF-16 unit as {@code \\uXXXX}.
     */
    static String toJson(Object v, Integer indent, boolean sortKeys, boolean ensureAscii, String itemSep, String keySep) {
        StringBuilder sb = new StringBuilder();
        Json style = new Json(indent, sortKeys, ensureAscii, itemSep != null ? itemSep : indent == null ? ", " : ",",
                keySep != null ? keySep : ": ");
        writeJson(sb, v, style, 0);
        return sb.toString();
    }

    private record Json(Integer indent, boolean sortKeys, boolean ascii, String itemSep, String keySep) {}

    @SuppressWarnings("unchecked")
    private static void writeJson(StringBuilder sb, Object v, Json style, int depth) {
        Integer indent = style.indent();
        switch (plain(v)) {
            case null -> sb.append("null");
            case Boolean b -> sb.append(b ? "true" : "false");
            case Long l -> sb.append(l);
            case Double d -> sb.append(Double.isNaN(d) ? "NaN" : Double.isInfinite(d) ? (d > 0 ? "Infinity" : "-Infinity") : pyFloat(d));
            case String s -> jsonString(sb, s, style.ascii());
            case List<?> list -> {
                if (list.isEmpty()) {
                    sb.append("[]");
                    return;
                }
                sb.append('[');
                for (int i = 0; i < list.size(); i++) {
                    sb.append(i == 0 ? "" : style.itemSep());
                    newline(sb, indent, depth + 1);
                    writeJson(sb, list.get(i), style, depth + 1);
                }
                newline(sb, indent, depth);
                sb.append(']');
            }
            case Map<?, ?> map -> {
                if (map.isEmpty()) {
                    sb.append("{}");
                    return;
                }
                Map<?, ?> m = map;
                if (style.sortKeys()) {
                    m = new LinkedHashMap<>();
                    List<Map.Entry<?, ?>> entries = new ArrayList<>(map.entrySet());
                    entries.sort((x, y) -> compare(x.getKey(), y.getKey()));
                    for (Map.Entry<?, ?> e : entries) {
                        ((Map<Object, Object>) m).put(e.getKey(), e.getValue());
                    }
                }
                sb.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    sb.append(first ? "" : style.itemSep());
                    first = false;
                    newline(sb, indent, depth + 1);
                    Object key = plain(e.getKey());
                    // json.dumps writes int, float, bool and None keys as their JSON text
                    jsonString(sb, key instanceof String ks ? ks : key == null ? "null" : key instanceof Boolean bk ? (bk ? "true" : "false")
                            : key instanceof Double dk ? pyFloat(dk) : String.valueOf(key), style.ascii());
                    sb.append(style.keySep());
                    writeJson(sb, e.getValue(), style, depth + 1);
                }
                newline(sb, indent, depth);
                sb.append('}');
            }
            default -> {
                if (v == UNDEFINED || v instanceof Generator) {
                    throw new TemplateException("Object of type " + typeName(v) + " is not JSON serializable");
                }
                jsonString(sb, v.toString(), style.ascii());
            }
        }
    }

    private static void newline(StringBuilder sb, Integer indent, int depth) {
        if (indent != null) {
            sb.append('\n').append(" ".repeat(indent * depth));
        }
    }

    private static void jsonString(StringBuilder sb, String s, boolean ascii) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c < 0x20 || ascii && c > 0x7e) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }

    private Values() {}
}
