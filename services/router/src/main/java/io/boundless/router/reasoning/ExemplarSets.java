package io.boundless.router.reasoning;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.boundless.proto.router.v1.AnswerParser;
import io.boundless.proto.router.v1.AnswerParserKind;
import io.boundless.proto.router.v1.Exemplar;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * The router's named exemplar sets: one JSON file per set, {@code <name>.json}, in a directory
 * ({@code boundless.router.reasoning.exemplars}; {@code boundless up} uses the model's {@code reasoning/}):
 * <pre>
 * {"description": "...", "parser": {"kind": "number"}, "trigger": "Let's think step by step.",
 *  "exemplars": [{"question": "...", "rationale": "...", "subquestions": ["...", "..."]}]}
 * </pre>
 * parser ({@code number}, {@code choice} with {@code choices}, {@code yes_no}, {@code regex} with
 * {@code pattern}) and trigger are defaults for requests that name the set and give none. A file that does
 * not parse stops the router with its name and the reason: a set must not vanish silently.
 */
public final class ExemplarSets {
    /** One set. */
    public record ExemplarSet(String name, String description, List<Exemplar> exemplars, AnswerParser parser, String trigger) {}

    private final Map<String, ExemplarSet> sets;

    private ExemplarSets(Map<String, ExemplarSet> sets) {
        this.sets = sets;
    }

    public static ExemplarSets none() {
        return new ExemplarSets(Map.of());
    }

    /** Every {@code *.json} in dir (a missing directory is an error: it was configured). */
    public static ExemplarSets load(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException("boundless.router.reasoning.exemplars: " + dir + " is not a directory");
        }
        Map<String, ExemplarSet> out = new TreeMap<>();
        ObjectMapper json = new ObjectMapper();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.filter(p -> p.getFileName().toString().endsWith(".json")).sorted().toList()) {
                String name = f.getFileName().toString().replaceFirst("\\.json$", "");
                try {
                    out.put(name, parse(name, json.readTree(f.toFile())));
                } catch (IOException | IllegalArgumentException e) {
                    throw new IllegalArgumentException("exemplar set " + f + ": " + e.getMessage(), e);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list exemplar sets in " + dir, e);
        }
        return new ExemplarSets(out);
    }

    static ExemplarSet parse(String name, JsonNode root) {
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException("must be a JSON object");
        }
        List<Exemplar> exemplars = new ArrayList<>();
        for (JsonNode e : root.path("exemplars")) {
            String q = e.path("question").asText("");
            if (q.isEmpty()) {
                throw new IllegalArgumentException("exemplar " + exemplars.size() + " has no question");
            }
            Exemplar.Builder b = Exemplar.newBuilder().setQuestion(q).setRationale(e.path("rationale").asText(""));
            e.path("subquestions").forEach(s -> b.addSubquestions(s.asText()));
            if (b.getRationale().isEmpty() && b.getSubquestionsCount() == 0) {
                throw new IllegalArgumentException("exemplar " + exemplars.size() + " has neither a rationale nor subquestions");
            }
            exemplars.add(b.build());
        }
        if (exemplars.isEmpty()) {
            throw new IllegalArgumentException("has no exemplars");
        }
        AnswerParser parser = AnswerParser.getDefaultInstance();
        JsonNode p = root.path("parser");
        if (p.isObject()) {
            String kind = p.path("kind").asText("").toUpperCase(Locale.ROOT);
            AnswerParserKind k;
            try {
                k = AnswerParserKind.valueOf("ANSWER_PARSER_KIND_" + kind);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("parser.kind is number, choice, yes_no or regex, not '" + p.path("kind").asText("") + "'");
            }
            parser = AnswerParser.newBuilder().setKind(k).setPattern(p.path("pattern").asText("")).setChoices(p.path("choices").asText("")).build();
            Parser.of(parser);  // a bad pattern fails here, at start
        }
        return new ExemplarSet(name, root.path("description").asText(""), List.copyOf(exemplars), parser, root.path("trigger").asText(""));
    }

    /** The set of this name, or null. */
    public ExemplarSet get(String name) {
        return sets.get(name);
    }

    /** The names, sorted. */
    public List<String> names() {
        return List.copyOf(sets.keySet());
    }
}
