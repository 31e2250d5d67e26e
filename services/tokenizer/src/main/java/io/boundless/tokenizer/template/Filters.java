package io.boundless.tokenizer.template;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Jinja's built-in filters and tests, as far as chat templates use them, plus HF's {@code tojson}. */
final class Filters {

    /** Arguments a filter needs at least (as Jinja raises a TypeError); map takes its filter's name unless given attribute=. */
    private static final Map<String, Integer> REQUIRED = Map.of("selectattr", 1, "rejectattr", 1, "replace", 2);

    static Object apply(String name, Object v, List<Object> args, Map<String, Object> kw) {
        int need = name.equals("map") && !kw.containsKey("attribute") ? 1 : REQUIRED.getOrDefault(name, 0);
        if (args.size() < need) {
            throw new TemplateException("the " + name + " filter takes at least " + need + " argument" + (need == 1 ? "" : "s") + " (" + args.size() + " given)");
        }
        switch (name) {
            case "safe" -> {
                return v instanceof Values.Markup ? v : new Values.Markup(Values.str(v));
            }
            case "e", "escape" -> {
                return v instanceof Values.Markup ? v : new Values.Markup(escape(Values.str(v)));
            }
            case "forceescape" -> {
                return new Values.Markup(escape(Values.str(v)));
            }
            default -> v = Values.plain(v);
        }
        return switch (name) {
            case "length", "count" -> (long) Values.length(v);
            case "trim" -> Methods.strip(Values.str(v), args.isEmpty() ? null : Values.str(args.getFirst()), true, true);
            case "upper" -> Values.str(v).toUpperCase(Locale.ROOT);
            case "lower" -> Values.str(v).toLowerCase(Locale.ROOT);
            case "title" -> title(Values.str(v));
            case "capitalize" -> {
                String s = Values.str(v);
                yield s.isEmpty() ? s : s.substring(0, 1).toUpperCase(Locale.ROOT) + s.substring(1).toLowerCase(Locale.ROOT);
            }
            case "string" -> Values.str(v);
            case "int" -> toInt(v);
            case "float" -> v instanceof String s ? parseDouble(s) : Values.toDouble(v);
            case "abs" -> v instanceof Long l ? (Object) Math.abs(l) : (Object) Math.abs(Values.toDouble(v));
            case "round" -> {
                int digits = args.isEmpty() ? 0 : (int) Values.toDouble(args.getFirst());
                double scale = Math.pow(10, digits);
                yield Math.rint(Values.toDouble(v) * scale) / scale;
            }
            case "default", "d" -> {
                boolean bool = args.size() > 1 && Values.truthy(args.get(1)) || Values.truthy(kw.get("boolean"));
                Object fallback = args.isEmpty() ? "" : args.getFirst();
                yield v == Values.UNDEFINED || (bool && !Values.truthy(v)) ? fallback : v;
            }
            case "tojson" -> {
                Object indent = kw.containsKey("indent") ? kw.get("indent") : args.isEmpty() ? null : args.getFirst();
                Object separators = Values.plain(kw.get("separators"));
                String itemSep = null;
                String keySep = null;
                if (separators instanceof List<?> pair && pair.size() == 2) {
                    itemSep = Values.str(pair.get(0));
                    keySep = Values.str(pair.get(1));
                } else if (separators != null) {
                    throw new TemplateException("tojson separators must be an (item, key) pair");
                }
                yield Values.toJson(v, indent == null ? null : (int) Values.toDouble(indent), Values.truthy(kw.get("sort_keys")),
                        Values.truthy(kw.get("ensure_ascii")), itemSep, keySep);
            }
            case "join" -> {
                String sep = args.isEmpty() ? "" : Values.str(args.getFirst());
                Object attr = kw.get("attribute");
                StringBuilder sb = new StringBuilder();
                List<Object> items = Values.iterate(v);
                for (int i = 0; i < items.size(); i++) {
                    Object item = attr == null ? items.get(i) : Interpreter.attribute(items.get(i), Values.str(attr));
                    sb.append(i == 0 ? "" : sep).append(Values.str(item));
                }
                yield sb.toString();
            }
            case "first" -> {
                List<Object> items = Values.iterate(v);
                yield items.isEmpty() ? Values.UNDEFINED : items.getFirst();
            }
            case "last" -> {
                if (v instanceof Values.Generator) {
                    throw new TemplateException("'generator' object is not reversible");
                }
                List<Object> items = Values.iterate(v);
                yield items.isEmpty() ? Values.UNDEFINED : items.getLast();
            }
            case "reverse" -> {
                if (v instanceof String s) {
                    yield new StringBuilder(s).reverse().toString();
                }
                if (v instanceof Values.Generator) {
                    throw new TemplateException("argument to reversed() must be a sequence");
                }
                List<Object> items = Values.iterate(v);
                Collections.reverse(items);
                yield new Values.Generator(items);
            }
            case "list" -> Values.iterate(v);
            case "unique" -> {
                // Jinja compares case-insensitively by default and keeps the first of each.
                boolean caseSensitive = Values.truthy(kw.get("case_sensitive"));
                Object attr = kw.get("attribute");
                List<Object> out = new ArrayList<>();
                java.util.Set<Object> seen = new java.util.HashSet<>();
                for (Object item : Values.iterate(v)) {
                    Object key = attr == null ? item : Interpreter.attribute(item, Values.str(attr));
                    if (seen.add(hashable(caseSensitive ? key : Values.ignoreCase(key)))) {
                        out.add(item);
                    }
                }
                yield new Values.Generator(out);
            }
            case "min", "max" -> {
                boolean caseSensitive = Values.truthy(kw.get("case_sensitive"));
                Object attr = kw.get("attribute");
                Object best = Values.UNDEFINED;
                Object bestKey = null;
                for (Object item : Values.iterate(v)) {
                    Object key = attr == null ? item : Interpreter.attribute(item, Values.str(attr));
                    key = caseSensitive ? key : Values.ignoreCase(key);
                    int c = best == Values.UNDEFINED ? 0 : Values.compare(key, bestKey);
                    if (best == Values.UNDEFINED || (name.equals("min") ? c < 0 : c > 0)) {
                        best = item;
                        bestKey = key;
                    }
                }
                yield best;
            }
            case "sort" -> {
                List<Object> items = Values.iterate(v);
                Object attr = kw.get("attribute");
                boolean caseSensitive = Values.truthy(kw.get("case_sensitive"));
                java.util.function.UnaryOperator<Object> key = x -> {
                    Object k = attr == null ? x : Interpreter.attribute(x, Values.str(attr));
                    return caseSensitive ? k : Values.ignoreCase(k);
                };
                items.sort((a, b) -> Values.compare(key.apply(a), key.apply(b)));
                if (Values.truthy(kw.get("reverse"))) {
                    Collections.reverse(items);
                }
                yield items;
            }
            case "items" -> {
                if (!(v instanceof Map<?, ?> m)) {
                    throw new TemplateException("items filter needs a mapping, got " + Values.typeName(v));
                }
                yield Values.items(m);
            }
            case "dictsort" -> {
                if (!(v instanceof Map<?, ?> m)) {
                    throw new TemplateException("dictsort filter needs a mapping");
                }
                // Jinja sorts by key, case-insensitively unless told otherwise; by="value" sorts by value.
                int pos = "value".equals(Values.plain(kw.getOrDefault("by", args.size() > 1 ? args.get(1) : "key"))) ? 1 : 0;
                boolean caseSensitive = Values.truthy(kw.getOrDefault("case_sensitive", args.isEmpty() ? false : args.getFirst()));
                List<Object> items = Values.items(m);
                items.sort((a, b) -> {
                    Object x = ((List<?>) a).get(pos);
                    Object y = ((List<?>) b).get(pos);
                    return caseSensitive ? Values.compare(x, y) : Values.compare(Values.ignoreCase(x), Values.ignoreCase(y));
                });
                if (Values.truthy(kw.get("reverse"))) {
                    Collections.reverse(items);
                }
                yield items;
            }
            case "map" -> {
                List<Object> out = new ArrayList<>();
                // Jinja's map and select start with "if value:", so None or an empty value gives an empty generator.
                for (Object item : Values.truthy(v) ? Values.iterate(v) : List.of()) {
                    if (kw.containsKey("attribute")) {
                        Object x = Interpreter.attribute(item, Values.str(kw.get("attribute")));
                        out.add(x == Values.UNDEFINED && kw.containsKey("default") ? kw.get("default") : x);
                    } else {
                        out.add(apply(Values.str(args.getFirst()), item, args.subList(1, args.size()), Map.of()));
                    }
                }
                yield new Values.Generator(out);
            }
            case "select", "reject", "selectattr", "rejectattr" -> {
                boolean attrForm = name.endsWith("attr");
                boolean keep = name.startsWith("select");
                List<Object> out = new ArrayList<>();
                for (Object item : Values.truthy(v) ? Values.iterate(v) : List.of()) {
                    Object subject = attrForm ? Interpreter.attribute(item, Values.str(args.getFirst())) : item;
                    int testAt = attrForm ? 1 : 0;
                    boolean ok = args.size() > testAt
                            ? test(Values.str(args.get(testAt)), subject, args.subList(testAt + 1, args.size()))
                            : Values.truthy(subject);
                    if (ok == keep) {
                        out.add(item);
                    }
                }
                yield new Values.Generator(out);
            }
            case "replace" -> Values.str(v).replace(Values.str(args.get(0)), Values.str(args.get(1)));
            case "indent" -> {
                int width = args.isEmpty() ? 4 : (int) Values.toDouble(args.getFirst());
                boolean first = args.size() > 1 ? Values.truthy(args.get(1)) : Values.truthy(kw.get("first"));
                String pad = " ".repeat(width);
                String[] lines = Values.str(v).split("\n", -1);
                StringBuilder sb = new StringBuilder();
                for (int i = 0; i < lines.length; i++) {
                    if (i > 0) {
                        sb.append('\n');
                    }
                    sb.append((i > 0 || first) && !lines[i].isEmpty() ? pad : "").append(lines[i]);
                }
                yield sb.toString();
            }
            case "wordcount" -> (long) Methods.split(Values.str(v), null, -1).size();
            case "dict" -> new LinkedHashMap<>(kw);
            default -> throw new TemplateException("no filter named '" + name + "'");
        };
    }

    private static final java.util.Set<String> TESTS_WITH_AN_ARGUMENT = java.util.Set.of("divisibleby", "equalto", "eq", "==", "sameas", "ne", "!=",
            "lt", "lessthan", "<", "gt", "greaterthan", ">", "le", "<=", "ge", ">=", "in");

    static boolean test(String name, Object v, List<Object> args) {
        v = Values.plain(v);
        if (args.isEmpty() && TESTS_WITH_AN_ARGUMENT.contains(name)) {
            throw new TemplateException("the " + name + " test takes an argument (none given)");
        }
        if (name.equals("divisibleby") && (long) Values.toDouble(args.getFirst()) == 0) {
            throw new TemplateException("integer division or modulo by zero");
        }
        return switch (name) {
            case "defined" -> v != Values.UNDEFINED;
            case "undefined" -> v == Values.UNDEFINED;
            case "none" -> v == null;
            case "string" -> v instanceof String;
            case "number" -> v instanceof Long || v instanceof Double;
            case "integer" -> v instanceof Long;
            case "float" -> v instanceof Double;
            case "boolean" -> v instanceof Boolean;
            case "true" -> Boolean.TRUE.equals(v);
            case "false" -> Boolean.FALSE.equals(v);
            case "mapping" -> v instanceof Map;
            case "sequence" -> v instanceof List || v instanceof String || v instanceof Map;
            case "iterable" -> v instanceof List || v instanceof String || v instanceof Map || v instanceof Values.Generator;
            case "callable" -> v instanceof Values.Callable;
            case "odd" -> (long) Values.toDouble(v) % 2 != 0;
            case "even" -> (long) Values.toDouble(v) % 2 == 0;
            case "divisibleby" -> (long) Values.toDouble(v) % (long) Values.toDouble(args.getFirst()) == 0;
            case "equalto", "eq", "==", "sameas" -> Values.equal(v, args.getFirst());
            case "ne", "!=" -> !Values.equal(v, args.getFirst());
            case "lt", "lessthan", "<" -> Values.compare(v, args.getFirst()) < 0;
            case "gt", "greaterthan", ">" -> Values.compare(v, args.getFirst()) > 0;
            case "le", "<=" -> Values.compare(v, args.getFirst()) <= 0;
            case "ge", ">=" -> Values.compare(v, args.getFirst()) >= 0;
            case "in" -> Interpreter.contains(args.getFirst(), v);
            case "lower" -> v instanceof String s && s.equals(s.toLowerCase(Locale.ROOT));
            case "upper" -> v instanceof String s && s.equals(s.toUpperCase(Locale.ROOT));
            default -> throw new TemplateException("no test named '" + name + "'");
        };
    }

    static String title(String s) {
        StringBuilder sb = new StringBuilder();
        boolean start = true;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            sb.append(start ? Character.toUpperCase(c) : Character.toLowerCase(c));
            start = !Character.isLetterOrDigit(c);
        }
        return sb.toString();
    }

    static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&#34;").replace("'", "&#39;");
    }

    private static final Object NONE = new Object();

    /** A set key that compares as Python's == does for the values templates hold (1 == 1.0, lists by value). */
    private static Object hashable(Object v) {
        v = Values.plain(v);
        return switch (v) {
            case Long l -> (double) l;
            case Boolean b -> b ? 1.0 : 0.0;
            case List<?> l -> l.stream().map(Filters::hashable).toList();
            case null -> NONE;
            default -> v;
        };
    }

    private static Object toInt(Object v) {
        return switch (v) {
            case Long l -> l;
            case Double d -> (long) (double) d;
            case Boolean b -> b ? 1L : 0L;
            case String s -> {
                try {
                    yield Long.parseLong(s.strip());
                } catch (NumberFormatException e) {
                    yield (long) parseDouble(s);
                }
            }
            default -> 0L;
        };
    }

    private static double parseDouble(String s) {
        try {
            return Double.parseDouble(s.strip());
        } catch (NumberFormatException e) {
            return 0.0;
        }
    }

    private Filters() {}
}
