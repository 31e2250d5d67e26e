package io.boundless.engine.ref;

import static org.assertj.core.api.Assertions.assertThat;

import io.boundless.engine.format.Json;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Hugging Face transformers (PyTorch, CPU) run as a separate process: {@code testdata/references/transformers-reference.py}
 * in the virtual environment {@code bin/test} creates ({@code .venv} at the repository root; {@code -Dboundless.python}
 * names another interpreter). Without it the tests that use it fail and say how to make it: an outside reference that is
 * silently skipped would make a green run mean nothing.
 */
public final class TransformersReference {
    private TransformersReference() {}

    public static Path references() {
        return Path.of(System.getProperty("boundless.testdata", "../testdata")).toAbsolutePath().normalize().resolve("references");
    }

    static Path python() {
        String configured = System.getProperty("boundless.python");
        Path p = configured != null && !configured.isBlank() ? Path.of(configured)
                : references().getParent().getParent().resolve(".venv").resolve("bin").resolve("python");
        if (!Files.isExecutable(p)) {
            throw new AssertionError("transformers, the reference for these tests, is not installed: " + p + " does not exist. "
                    + "bin/test creates it (python3 -m venv .venv and the offline pip install of torch and transformers in bin/test)");
        }
        return p;
    }

    /** Runs one mode of the reference script and returns its stdout (the last line that is JSON, parsed), or null. */
    public static Object run(String mode, Path arg) throws IOException, InterruptedException {
        Path log = Files.createTempFile("transformers-reference", ".log");
        try {
            Process p = new ProcessBuilder(python().toString(), "transformers-reference.py", mode, arg.toString())
                    .directory(references().toFile()).redirectError(log.toFile()).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(300, TimeUnit.SECONDS)).as("transformers reference %s finishes", mode).isTrue();
            assertThat(p.exitValue()).as("transformers reference %s failed:\n%s\n%s", mode, out, Files.readString(log)).isZero();
            String json = out.lines().filter(l -> l.startsWith("{") || l.startsWith("[")).reduce((a, b) -> b).orElse(null);
            return json == null ? null : Json.parse(json);
        } finally {
            Files.deleteIfExists(log);
        }
    }

    /** One model directory's greedy run as transformers computes it. */
    public record Greedy(List<Integer> prompt, List<Integer> tokens, List<float[]> logits) {
        @SuppressWarnings("unchecked")
        public static Greedy of(Map<String, Object> m, List<Integer> prompt) {
            List<Integer> tokens = ((List<Number>) m.get("tokens")).stream().map(Number::intValue).toList();
            List<float[]> rows = ((List<List<Number>>) m.get("logits")).stream().map(r -> {
                float[] f = new float[r.size()];
                for (int i = 0; i < f.length; i++) {
                    f[i] = r.get(i).floatValue();
                }
                return f;
            }).toList();
            return new Greedy(prompt, tokens, rows);
        }

        @SuppressWarnings("unchecked")
        public static Greedy of(Map<String, Object> m) {
            return of(m, ((List<Number>) m.get("prompt")).stream().map(Number::intValue).toList());
        }
    }

    /** transformers' greedy logits for model directories written by anyone (each loaded with from_pretrained). */
    @SuppressWarnings("unchecked")
    public static List<Greedy> greedy(Path work, List<Path> dirs, List<int[]> prompts, int steps) throws IOException, InterruptedException {
        StringBuilder req = new StringBuilder("[");
        for (int i = 0; i < dirs.size(); i++) {
            req.append(i == 0 ? "" : ",").append(Json.write(Map.of("dir", dirs.get(i).toString(), "steps", (long) steps,
                    "prompt", java.util.Arrays.stream(prompts.get(i)).mapToObj(v -> (Object) (long) v).toList())));
        }
        Path file = work.resolve("request.json");
        Files.writeString(file, req.append("]").toString());
        List<Map<String, Object>> out = (List<Map<String, Object>>) run("logits", file);
        assertThat(out).hasSize(dirs.size());
        List<Greedy> g = new java.util.ArrayList<>();
        for (int i = 0; i < dirs.size(); i++) {
            g.add(Greedy.of(out.get(i), java.util.Arrays.stream(prompts.get(i)).boxed().toList()));
        }
        return g;
    }
}
