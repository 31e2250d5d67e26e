package io.boundless.engine.grammar;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a constrained output must be (structured outputs): valid JSON against a schema, any JSON object,
 * a full match of a regular expression, one of a list of strings, or a sentence of a GBNF grammar.
 * A value, so requests with the same constraint share one compiled {@link Matcher} (see {@link Cache}).
 */
public record Constraint(Kind kind, String spec, List<String> choices) {
    public enum Kind { JSON_SCHEMA, JSON_OBJECT, REGEX, CHOICE, GRAMMAR }

    /** Longest specification accepted (schema, pattern or grammar text). */
    public static final int MAX_SPEC_CHARS = 1_000_000;

    public Constraint {
        spec = spec == null ? "" : spec;
        choices = choices == null ? List.of() : List.copyOf(choices);
        if (spec.length() > MAX_SPEC_CHARS) {
            throw new GrammarException("the " + kind.name().toLowerCase(java.util.Locale.ROOT) + " has " + spec.length() + " characters; at most "
                    + MAX_SPEC_CHARS);
        }
        if (kind == Kind.CHOICE && choices.isEmpty()) {
            throw new GrammarException("a choice needs at least one string");
        }
    }

    /**
     * From a wire message's parts: the kind by its name (JSON_SCHEMA, JSON_OBJECT, REGEX, CHOICE, GRAMMAR, as the protos'
     * oneof cases are named), the text a schema, pattern or grammar kind holds, and a choice's strings.
     */
    public static Constraint of(String kind, String schema, String regex, String grammar, List<String> choices) {
        Kind k;
        try {
            k = Kind.valueOf(kind);
        } catch (IllegalArgumentException e) {
            throw new GrammarException("constraint names no kind (json_schema, json_object, regex, choice or grammar)");
        }
        String spec = switch (k) {
            case JSON_SCHEMA -> schema;
            case REGEX -> regex;
            case GRAMMAR -> grammar;
            default -> "";
        };
        return new Constraint(k, spec, k == Kind.CHOICE ? choices : List.of());
    }

    public static Constraint jsonSchema(String schema) {
        return new Constraint(Kind.JSON_SCHEMA, schema, List.of());
    }

    public static Constraint jsonObject() {
        return new Constraint(Kind.JSON_OBJECT, "", List.of());
    }

    public static Constraint regex(String pattern) {
        return new Constraint(Kind.REGEX, pattern, List.of());
    }

    public static Constraint choice(List<String> choices) {
        return new Constraint(Kind.CHOICE, "", choices);
    }

    public static Constraint grammar(String gbnf) {
        return new Constraint(Kind.GRAMMAR, gbnf, List.of());
    }

    /** The grammar; a {@link GrammarException} saying what is wrong or unsupported. */
    public Grammar grammar() {
        return switch (kind) {
            case JSON_SCHEMA -> JsonSchema.compile(spec);
            case JSON_OBJECT -> JsonSchema.anyObject();
            case REGEX -> Regex.compile(spec);
            case GRAMMAR -> Gbnf.parse(spec);
            case CHOICE -> {
                Grammar.Builder b = new Grammar.Builder();
                List<List<Grammar.Builder.Element>> alts = new java.util.ArrayList<>();
                for (String c : choices) {
                    if (c.isEmpty()) {
                        throw new GrammarException("a choice is the empty string");
                    }
                    alts.add(Grammar.Builder.literal(c));
                }
                b.rule("root", alts);
                yield b.build("root");
            }
        };
    }

    /** Compiled constraints, least recently used dropped past a count. Thread-safe. */
    public static final class Cache {
        private final Map<Constraint, Matcher> map;

        public Cache(int entries) {
            this.map = new LinkedHashMap<>(16, 0.75f, true) {
                @Override
                protected boolean removeEldestEntry(Map.Entry<Constraint, Matcher> e) {
                    return size() > entries;
                }
            };
        }

        public Matcher matcher(Constraint c) {
            synchronized (this) {
                Matcher m = map.get(c);
                if (m != null) {
                    return m;
                }
            }
            Matcher m = new Matcher(c.grammar()); // outside the lock: a large schema must not hold up others
            synchronized (this) {
                map.putIfAbsent(c, m);
                return map.get(c);
            }
        }
    }
}
