package io.boundless.tokenizer.template;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Python methods on str, dict and list that chat templates call ({@code content.strip()} ...). */
final class Methods {

    /** Arguments each method needs at least, by the kind of object it is called on (as Python raises TypeError). */
    private static final Map<String, Integer> REQUIRED = Map.of("str.startswith", 1, "str.endswith", 1, "str.replace", 2, "str.find", 1,
            "str.count", 1, "str.join", 1, "dict.get", 1, "list.index", 1, "list.count", 1);

    static Object call(Object target, String name, List<Object> args, Map<String, Object> kw) {
        Object plain = Values.plain(target);
        String kind = plain instanceof String ? "str" : plain instanceof Map<?, ?> ? "dict" : plain instanceof List<?> ? "list" : null;
        int need = kind == null ? 0 : REQUIRED.getOrDefault(kind + "." + name, 0);
        if (args.size() < need) {
            throw new TemplateException(name + "() takes at least " + need + " argument" + (need == 1 ? "" : "s") + " (" + args.size() + " given)");
        }
        return switch (plain) {
            case String s -> name.equals("format") ? format(s, args, kw) : string(s, name, args);
            case Map<?, ?> m -> dict(m, name, args);
            case List<?> l -> list(l, name, args);
            default -> throw new TemplateException("'" + Values.typeName(target) + "' object has no method '" + name + "'");
        };
    }

    private static Object string(String s, String name, List<Object> args) {
        return switch (name) {
            case "strip" -> strip(s, chars(args), true, true);
            case "lstrip" -> strip(s, chars(args), true, false);
            case "rstrip" -> strip(s, chars(args), false, true);
            case "upper" -> s.toUpperCase(Locale.ROOT);
            case "lower" -> s.toLowerCase(Locale.ROOT);
            case "title" -> Filters.title(s);
            case "capitalize" -> s.isEmpty() ? s : s.substring(0, 1).toUpperCase(Locale.ROOT) + s.substring(1).toLowerCase(Locale.ROOT);
            case "startswith" -> affix(s, args.getFirst(), true);
            case "endswith" -> affix(s, args.getFirst(), false);
            case "split" -> split(s, args.isEmpty() || args.getFirst() == null ? null : Values.str(args.getFirst()),
                    args.size() > 1 ? (int) Values.toDouble(args.get(1)) : -1);
            case "replace" -> {
                String from = Values.str(args.get(0));
                String to = Values.str(args.get(1));
                int count = args.size() > 2 ? (int) Values.toDouble(args.get(2)) : -1;
                yield replace(s, from, to, count);
            }
            case "find" -> (long) s.indexOf(Values.str(args.getFirst()));
            case "count" -> {
                String sub = Values.str(args.getFirst());
                long n = 0;
                if (sub.isEmpty()) {
                    yield (long) s.codePointCount(0, s.length()) + 1;
                }
                for (int i = s.indexOf(sub); i >= 0; i = s.indexOf(sub, i + sub.length())) {
                    n++;
                }
                yield n;
            }
            case "join" -> {
                StringBuilder sb = new StringBuilder();
                List<Object> items = Values.iterate(args.getFirst());
                for (int i = 0; i < items.size(); i++) {
                    sb.append(i == 0 ? "" : s).append(Values.str(items.get(i)));
                }
                yield sb.toString();
            }
            case "isdigit" -> !s.isEmpty() && s.chars().allMatch(Character::isDigit);
            case "isalpha" -> !s.isEmpty() && s.chars().allMatch(Character::isLetter);
            case "isspace" -> !s.isEmpty() && s.chars().allMatch(Character::isWhitespace);
            default -> throw new TemplateException("'str' object has no attribute '" + name + "'");
        };
    }

    /** Python's str.format for the fields templates use: {}, {0}, {name}, {name.attr}, {name[key]}, {{ and }}. */
    static String format(String s, List<Object> args, Map<String, Object> kw) {
        StringBuilder out = new StringBuilder();
        int auto = 0;
        boolean manual = false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '{' && i + 1 < s.length() && s.charAt(i + 1) == '{' || c == '}' && i + 1 < s.length() && s.charAt(i + 1) == '}') {
                out.append(c);
                i++;
                continue;
            }
            if (c == '}') {
                throw new TemplateException("Single '}' encountered in format string");
            }
            if (c != '{') {
                out.append(c);
                continue;
            }
            int end = s.indexOf('}', i);
            if (end < 0) {
                throw new TemplateException("Single '{' encountered in format string");
            }
            String field = s.substring(i + 1, end);
            i = end;
            if (field.contains(":") || field.contains("!")) {
                throw new TemplateException("format specs and conversions in str.format are not supported: {" + field + "}");
            }
            int cut = 0;
            while (cut < field.length() && field.charAt(cut) != '.' && field.charAt(cut) != '[') {
                cut++;
            }
            String head = field.substring(0, cut);
            Object v;
            if (head.isEmpty() || head.chars().allMatch(Character::isDigit)) {
                if (head.isEmpty() ? manual : auto > 0) {
                    throw new TemplateException("cannot switch from manual field specification to automatic field numbering");
                }
                manual |= !head.isEmpty();
                int k = head.isEmpty() ? auto++ : Integer.parseInt(head);
                if (k >= args.size()) {
                    throw new TemplateException("Replacement index " + k + " out of range for positional args tuple");
                }
                v = args.get(k);
            } else if (kw.containsKey(head)) {
                v = kw.get(head);
            } else {
                throw new TemplateException("KeyError: '" + head + "'");
            }
            String rest = field.substring(cut);
            while (!rest.isEmpty()) {
                if (rest.charAt(0) == '.') {
                    int n = 1;
                    while (n < rest.length() && rest.charAt(n) != '.' && rest.charAt(n) != '[') {
                        n++;
                    }
                    v = Interpreter.attribute(v, rest.substring(1, n));
                    rest = rest.substring(n);
                } else {
                    int close = rest.indexOf(']');
                    if (close < 0) {
                        throw new TemplateException("Missing ']' in format string");
                    }
                    String key = rest.substring(1, close);
                    v = v instanceof List<?> l && key.chars().allMatch(Character::isDigit) ? l.get(Integer.parseInt(key))
                            : v instanceof Map<?, ?> m ? m.get(key) : Values.UNDEFINED;
                    rest = rest.substring(close + 1);
                }
            }
            out.append(Values.str(v));
        }
        return out.toString();
    }

    private static Object dict(Map<?, ?> m, String name, List<Object> args) {
        return switch (name) {
            case "items" -> Values.items(m);
            case "keys" -> new ArrayList<>(m.keySet());
            case "values" -> new ArrayList<>(m.values());
            case "get" -> {
                Object key = args.getFirst();
                yield m.containsKey(key) ? m.get(key) : args.size() > 1 ? args.get(1) : null;
            }
            default -> throw new TemplateException("'dict' object has no attribute '" + name + "'");
        };
    }

    private static Object list(List<?> l, String name, List<Object> args) {
        return switch (name) {
            case "index" -> {
                for (int i = 0; i < l.size(); i++) {
                    if (Values.equal(l.get(i), args.getFirst())) {
                        yield (long) i;
                    }
                }
                throw new TemplateException(Values.repr(args.getFirst()) + " is not in list");
            }
            case "count" -> l.stream().filter(x -> Values.equal(x, args.getFirst())).count();
            default -> throw new TemplateException("'list' object has no attribute '" + name + "'");
        };
    }

    private static String chars(List<Object> args) {
        return args.isEmpty() || args.getFirst() == null ? null : Values.str(args.getFirst());
    }

    /** Python's str.strip family: whitespace by default, otherwise any of the given characters. */
    static String strip(String s, String chars, boolean left, boolean right) {
        int start = 0;
        int end = s.length();
        while (left && start < end && stripped(s.charAt(start), chars)) {
            start++;
        }
        while (right && end > start && stripped(s.charAt(end - 1), chars)) {
            end--;
        }
        return s.substring(start, end);
    }

    private static boolean stripped(char c, String chars) {
        return chars == null ? Character.isWhitespace(c) || Character.isSpaceChar(c) : chars.indexOf(c) >= 0;
    }

    private static boolean affix(String s, Object arg, boolean prefix) {
        if (arg instanceof List<?> options) {
            return options.stream().anyMatch(o -> affix(s, o, prefix));
        }
        String a = Values.str(arg);
        return prefix ? s.startsWith(a) : s.endsWith(a);
    }

    static List<Object> split(String s, String sep, int maxsplit) {
        List<Object> out = new ArrayList<>();
        if (sep == null) {
            for (String part : s.strip().split("\\s+", maxsplit < 0 ? 0 : maxsplit + 1)) {
                if (!part.isEmpty()) {
                    out.add(part);
                }
            }
            return out;
        }
        if (sep.isEmpty()) {
            throw new TemplateException("empty separator");
        }
        int from = 0;
        int idx;
        while ((maxsplit < 0 || out.size() < maxsplit) && (idx = s.indexOf(sep, from)) >= 0) {
            out.add(s.substring(from, idx));
            from = idx + sep.length();
        }
        out.add(s.substring(from));
        return out;
    }

    private static String replace(String s, String from, String to, int count) {
        if (count < 0) {
            return s.replace(from, to);
        }
        StringBuilder sb = new StringBuilder();
        int pos = 0;
        for (int n = 0; n < count; n++) {
            int idx = s.indexOf(from, pos);
            if (idx < 0) {
                break;
            }
            sb.append(s, pos, idx).append(to);
            pos = idx + from.length();
        }
        return sb.append(s.substring(pos)).toString();
    }

    /** {@code "%s" % value}: %s, %d, %r and %% with one value or a tuple. */
    static String percentFormat(String fmt, Object arg) {
        List<?> values = arg instanceof List<?> l ? l : List.of(arg == null ? "None" : arg);
        StringBuilder sb = new StringBuilder();
        int v = 0;
        for (int i = 0; i < fmt.length(); i++) {
            char c = fmt.charAt(i);
            if (c != '%' || i + 1 >= fmt.length()) {
                sb.append(c);
                continue;
            }
            char d = fmt.charAt(++i);
            if (d == '%') {
                sb.append('%');
                continue;
            }
            if (v >= values.size()) {
                throw new TemplateException("not enough arguments for format string");
            }
            Object x = values.get(v++);
            sb.append(switch (d) {
                case 'd', 'i' -> String.valueOf((long) Values.toDouble(x));
                case 'r' -> Values.repr(x);
                default -> Values.str(x);
            });
        }
        return sb.toString();
    }

    private Methods() {}
}
