package io.boundless.engine.model;

import static org.assertj.core.api.Assertions.assertThat;

import io.boundless.engine.cpu.Parallel;
import io.boundless.engine.format.Json;
import io.boundless.engine.kv.KvCache;
import io.boundless.engine.tensor.DType;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The same random-weight GGUF through llama.cpp (node-llama-cpp's CPU build) and through our
 * engine: the same greedy tokens for 32 steps and next-token probabilities within a stated tolerance
 * ({@link #bound}) for F32, F16, Q8_0 and Q4_0. Our quantized paths quantize activations to Q8_0 blocks
 * exactly as llama.cpp does. GPT-2 runs with the engine's ggml-GELU test mode (ggml evaluates GELU through an
 * F16 table; the engine serves the float32 GELU transformers uses). The reference runs with an F32 KV cache (llama.cpp's default F16 cache is a storage choice).
 */
class LlamaCppParityTest {
    private static final Parallel PARALLEL = new Parallel(2);
    private static final int STEPS = 32;

    @AfterAll
    static void stop() {
        PARALLEL.close();
    }

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (ModelConfig c : List.of(TestModels.llama(), TestModels.qwen2(), TestModels.gpt2())) {
            for (DType d : List.of(DType.F32, DType.F16, DType.Q8_0, DType.Q4_0)) {
                out.add(Arguments.of(c.arch(), d, c, bound(c.arch(), d)));
            }
        }
        return out.stream();
    }

    /**
     * The largest next-token probability difference allowed (measured over the 32 steps of each fixed-seed case).
     * <ul>
     * <li>Q8_0 and Q4_0: 1e-5 for every architecture (measured under 1e-6). Both engines quantize the activations
     * to Q8_0 blocks and take integer dot products, so they agree to float rounding; GPT-2 included, with the
     * engine's ggml-GELU test mode.
     * <li>F32: 1e-5 for Llama and Qwen2 (measured ~1.3e-6). GPT-2 with ggml's GELU table: 2e-4 (measured 8e-5, on 3
     * of 32 steps, 3e-6 elsewhere). The table is indexed by f16(x); the two engines sum the matrix products in
     * different orders, and an activation within float rounding of an f16 rounding boundary then lands in the
     * neighbouring entry, a jump of one f16 step. (The quantized cases have no such jumps: their sums are exact.)
     * <li>F16: 3e-3 (measured 9.4e-4 Llama, 2.9e-4 Qwen2, 4.4e-4 GPT-2; on the 2026-12-02 machine, an AMD EPYC, Qwen2
     * 2.1e-3 from llama.cpp's side — TransformersParityTest still holds ours to 1e-5 of transformers there). llama.cpp rounds the activations to F16
     * before an F16 matrix product (ggml-cpu's vec_dot_type for F16 is F16); we multiply float32 activations by the
     * F16 weights, as transformers does, and TransformersParityTest holds F16 models to 1e-5 of it.
     * </ul>
     */
    static double bound(Architecture arch, DType d) {
        return switch (d) {
            case F16 -> 3e-3;
            case F32 -> arch == Architecture.GPT2 ? 2e-4 : 1e-5;
            default -> 1e-5;
        };
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void sameGreedyTokensAndProbabilitiesAsLlamaCpp(Architecture arch, DType dtype, ModelConfig c, double tolerance, @TempDir Path dir) throws Exception {
        long seed = 1234 + arch.ordinal(); // fixed: a model whose top two tokens nearly tie would make any engine pair disagree
        Path gguf = dir.resolve("m.gguf");
        ModelWriter.writeGguf(gguf, c, ModelWriter.randomWeights(c, seed), dtype);
        int[] prompt = TransformerTest.prompt(new SplittableRandom(seed), 9, c.vocabSize());

        Map<String, Object> ref = llamaCpp(gguf, STEPS, prompt);
        @SuppressWarnings("unchecked")
        List<Number> refTokens = (List<Number>) ref.get("tokens");
        @SuppressWarnings("unchecked")
        List<Map<String, Number>> refProbs = (List<Map<String, Number>>) ref.get("probabilities");

        try (LoadedModel m = LoadedModel.open(gguf)) {
            // ggml evaluates GELU as f16(gelu(f16(x))) through a table, we (as transformers) in float32: GPT-2 is held
            // to llama.cpp with the engine's test mode that uses ggml's table
            Transformer t = new Transformer(m.weights(), PARALLEL, Transformer.Gelu.GGML_F16_TABLE);
            KvCache cache = new KvCache(c.layers(), c.kvDim(), 16, 8);
            int[] table = {0, 1, 2, 3, 4, 5, 6, 7};
            float[] logits = t.forward(List.of(new Transformer.Chunk(prompt, 0, table, true)), cache);
            int pos = prompt.length;
            double worst = 0;
            for (int s = 0; s < STEPS; s++) {
                float[] p = softmax(logits);
                int ours = TransformerTest.argmax(logits);
                assertThat(ours).as("%s %s step %d greedy token", arch, dtype, s).isEqualTo(refTokens.get(s).intValue());
                for (int id = 0; id < c.vocabSize(); id++) {
                    double theirs = refProbs.get(s).getOrDefault(String.valueOf(id), 0).doubleValue();
                    worst = Math.max(worst, Math.abs(p[id] - theirs));
                }
                logits = t.forward(List.of(new Transformer.Chunk(new int[] {ours}, pos++, table, true)), cache);
            }
            System.out.printf("llama.cpp parity %s %s: largest probability difference %.2e over %d steps%n", arch, dtype, worst, STEPS);
            assertThat(worst).as("%s %s: largest probability difference over %d steps", arch, dtype, STEPS).isLessThanOrEqualTo(tolerance);
        }
    }

    static float[] softmax(float[] logits) {
        float[] p = logits.clone();
        io.boundless.engine.cpu.Ops.softmax(p, 0, p.length);
        return p;
    }

    static Map<String, Object> llamaCpp(Path gguf, int steps, int[] prompt) throws Exception {
        Path refs = Path.of(System.getProperty("boundless.testdata", "../testdata")).resolve("references");
        StringBuilder ids = new StringBuilder();
        for (int id : prompt) {
            ids.append(ids.isEmpty() ? "" : ",").append(id);
        }
        Process p = new ProcessBuilder("node", "llama-cpp-reference.mjs", gguf.toString(), String.valueOf(steps), ids.toString())
                .directory(refs.toFile()).redirectError(ProcessBuilder.Redirect.PIPE).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as("llama.cpp reference failed:\n%s\n%s", out, err).isZero();
        String json = out.lines().filter(l -> l.startsWith("{")).reduce((a, b) -> b).orElseThrow(() -> new AssertionError("no JSON from llama.cpp: " + out + err));
        @SuppressWarnings("unchecked")
        Map<String, Object> parsed = (Map<String, Object>) Json.parse(json);
        return parsed;
    }
}
