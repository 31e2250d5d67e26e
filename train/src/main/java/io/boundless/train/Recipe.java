package io.boundless.train;

import io.boundless.engine.format.Json;
import io.boundless.engine.model.Architecture;
import io.boundless.engine.model.ModelConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * What {@code boundless train} makes and how: the corpus seed, the tokenizer's size, the model's
 * shape, the optimization, the evaluation. A JSON file (recipes/boundless-world.json is the default
 * model's); every field has a default, so a recipe names only what it changes.
 */
public record Recipe(String name, long seed, int vocabSize, int tokenizerDocuments, String architecture, int hidden, int layers, int heads,
        int kvHeads, int intermediate, int maxPositions, double ropeTheta, long steps, int batch, int seq, double peakLr, double minLr,
        long warmupSteps, double weightDecay, double clipNorm, int threads, long checkpointEvery, long curveEvery, int curveProbes,
        int evalPerSet, long evalSeed) {

    public Recipe {
        if (steps <= warmupSteps || batch <= 0 || seq <= 0 || seq > maxPositions || vocabSize < 300 || threads <= 0) {
            throw new IllegalArgumentException("recipe " + name + ": needs steps > warmupSteps, batch > 0, 0 < seq <= maxPositions, vocabSize >= 300");
        }
    }

    @SuppressWarnings("unchecked")
    public static Recipe read(Path file) throws IOException {
        Object parsed;
        try {
            parsed = Json.parse(Files.readString(file));
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(file + " is not a JSON recipe: " + e.getMessage(), e);
        }
        if (!(parsed instanceof Map<?, ?> root)) {
            throw new IllegalArgumentException(file + ": a recipe is a JSON object");
        }
        Map<String, Object> r = (Map<String, Object>) root;
        Map<String, Object> tok = section(r, "tokenizer", file);
        Map<String, Object> model = section(r, "model", file);
        Map<String, Object> train = section(r, "training", file);
        Map<String, Object> eval = section(r, "evaluation", file);
        return new Recipe(str(r, "name", "model"), num(r, "seed", 1).longValue(), num(tok, "vocabSize", 3072).intValue(),
                num(tok, "sampleDocuments", 30000).intValue(), str(model, "architecture", "llama"), num(model, "hidden", 256).intValue(),
                num(model, "layers", 4).intValue(), num(model, "heads", 4).intValue(), num(model, "kvHeads", 2).intValue(),
                num(model, "intermediate", 704).intValue(), num(model, "maxPositions", 512).intValue(), num(model, "ropeTheta", 10000).doubleValue(),
                num(train, "steps", 2000).longValue(), num(train, "batch", 12).intValue(), num(train, "seq", 192).intValue(),
                num(train, "peakLr", 3e-3).doubleValue(), num(train, "minLr", 3e-4).doubleValue(), num(train, "warmupSteps", 100).longValue(),
                num(train, "weightDecay", 0.1).doubleValue(), num(train, "clipNorm", 1.0).doubleValue(), num(train, "threads", 2).intValue(),
                num(train, "checkpointEvery", 100).longValue(), num(train, "curveEvery", 250).longValue(), num(train, "curveProbes", 60).intValue(),
                num(eval, "perSet", 100).intValue(), num(eval, "seed", 7).longValue());
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> section(Map<String, Object> r, String key, Path file) {
        Object v = r.get(key);
        if (v == null) {
            return Map.of();
        }
        if (!(v instanceof Map<?, ?>)) {
            throw new IllegalArgumentException(file + ": " + key + " is an object");
        }
        return (Map<String, Object>) v;
    }

    private static Number num(Map<String, Object> m, String key, Number fallback) {
        Object v = m.get(key);
        if (v == null) {
            return fallback;
        }
        if (!(v instanceof Number n)) {
            throw new IllegalArgumentException(key + " is a number, not " + v);
        }
        return n;
    }

    private static String str(Map<String, Object> m, String key, String fallback) {
        return m.get(key) instanceof String s ? s : fallback;
    }

    /** The model's config for a tokenizer of vocab tokens (rounded up to a multiple of 64) with these special ids. */
    public ModelConfig config(int vocab, int end, int endOfText) {
        Architecture arch = switch (architecture) {
            case "llama" -> Architecture.LLAMA;
            case "gpt2" -> Architecture.GPT2;
            default -> throw new IllegalArgumentException("recipe " + name + ": architecture is llama or gpt2, not " + architecture);
        };
        int padded = (vocab + 63) / 64 * 64;
        int kv = arch == Architecture.GPT2 ? heads : kvHeads;
        return new ModelConfig(arch, padded, hidden, intermediate, layers, heads, kv, hidden / heads, 1e-5f, ropeTheta, null, maxPositions,
                true, arch == Architecture.GPT2, 0, null, List.of(end, endOfText));
    }
}
