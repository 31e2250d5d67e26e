package io.boundless.engine.model;

import io.boundless.engine.Seeds;
import static org.assertj.core.api.Assertions.assertThat;

import io.boundless.engine.cpu.Parallel;
import io.boundless.engine.kv.KvCache;
import io.boundless.engine.tensor.DType;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class TransformerTest {
    private static final Parallel PARALLEL = new Parallel(2);

    @AfterAll
    static void stop() {
        PARALLEL.close();
    }

    static Stream<Arguments> configs() {
        return TestModels.all().stream().map(c -> Arguments.of(c.arch(), c));
    }

    /** Prefill a prompt in one chunk, then decode greedily one token at a time; returns every step's logits. */
    static List<float[]> greedy(Transformer t, int[] prompt, int steps, KvCache cache, int[] table) {
        List<float[]> out = new ArrayList<>();
        float[] logits = t.forward(List.of(new Transformer.Chunk(prompt, 0, table, true)), cache);
        out.add(logits);
        int pos = prompt.length;
        for (int s = 1; s < steps; s++) {
            int next = argmax(logits);
            logits = t.forward(List.of(new Transformer.Chunk(new int[] {next}, pos++, table, true)), cache);
            out.add(logits);
        }
        return out;
    }

    static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) {
            if (x[i] > x[best]) {
                best = i;
            }
        }
        return best;
    }

    static int[] prompt(SplittableRandom rnd, int n, int vocab) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = rnd.nextInt(vocab - 2);
        }
        return p;
    }

    static void assertClose(float[] a, float[] b, double tol, String what) {
        assertThat(a.length).isEqualTo(b.length);
        double maxAbs = 0;
        for (float v : b) {
            maxAbs = Math.max(maxAbs, Math.abs(v));
        }
        for (int i = 0; i < a.length; i++) {
            assertThat((double) Math.abs(a[i] - b[i])).as("%s, logit %d (%f vs %f)", what, i, a[i], b[i]).isLessThanOrEqualTo(tol * (1 + maxAbs));
        }
    }

    /** The same random weights written as safetensors and as GGUF (llama Q/K permuted, adjacent RoPE) give the same logits. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void safetensorsAndGgufGiveTheSameLogits(Architecture arch, ModelConfig c, @TempDir Path dir) throws IOException {
        for (long seed : Seeds.both()) {
            var weights = ModelWriter.randomWeights(c, seed);
            ModelWriter.writeHuggingFace(dir.resolve("hf"), c, weights, DType.F32);
            ModelWriter.writeGguf(dir.resolve("m.gguf"), c, weights, DType.F32);
            int[] p = prompt(new SplittableRandom(seed), 11, c.vocabSize());
            try (LoadedModel hf = LoadedModel.open(dir.resolve("hf")); LoadedModel gg = LoadedModel.open(dir.resolve("m.gguf"))) {
                assertThat(gg.config().hidden()).isEqualTo(c.hidden());
                int[] table = {0, 1, 2, 3};
                List<float[]> a = greedy(new Transformer(hf.weights(), PARALLEL), p, 6, new KvCache(c.layers(), c.kvDim(), 8, 4), table);
                List<float[]> b = greedy(new Transformer(gg.weights(), PARALLEL), p, 6, new KvCache(c.layers(), c.kvDim(), 8, 4), table);
                for (int s = 0; s < a.size(); s++) {
                    assertClose(b.get(s), a.get(s), 1e-4, "seed " + seed + " step " + s);
                }
            }
        }
    }

    /** Several sequences in one batch, with prefill chunks and decode tokens mixed, give each one's single-sequence logits. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void batchedAndChunkedEqualsSingleSequence(Architecture arch, ModelConfig c, @TempDir Path dir) throws IOException {
        for (long seed : Seeds.both()) {
            SplittableRandom rnd = new SplittableRandom(seed);
            ModelWriter.writeHuggingFace(dir, c, ModelWriter.randomWeights(c, seed), DType.F32);
            try (LoadedModel m = LoadedModel.open(dir)) {
                Transformer t = new Transformer(m.weights(), PARALLEL);
                int[] p1 = prompt(rnd, 13, c.vocabSize());
                int[] p2 = prompt(rnd, 5, c.vocabSize());
                // single sequence references
                List<float[]> r1 = greedy(t, p1, 4, new KvCache(c.layers(), c.kvDim(), 4, 8), new int[] {0, 1, 2, 3, 4});
                List<float[]> r2 = greedy(t, p2, 4, new KvCache(c.layers(), c.kvDim(), 4, 8), new int[] {0, 1, 2});
                // batched: sequence 1 prefills in two chunks (7 + 6 tokens) while sequence 2 prefills and decodes,
                // with interleaved, non-contiguous blocks
                KvCache cache = new KvCache(c.layers(), c.kvDim(), 4, 16);
                int[] t1 = {9, 2, 14, 5, 7};
                int[] t2 = {3, 11, 0};
                float[] step1 = t.forward(List.of(new Transformer.Chunk(java.util.Arrays.copyOf(p1, 7), 0, t1, false),
                        new Transformer.Chunk(p2, 0, t2, true)), cache);
                assertClose(step1, r2.get(0), 1e-4, "seed " + seed + " seq 2 prefill");
                int n2 = argmax(step1);
                float[] step2 = t.forward(List.of(new Transformer.Chunk(java.util.Arrays.copyOfRange(p1, 7, 13), 7, t1, true),
                        new Transformer.Chunk(new int[] {n2}, 5, t2, true)), cache);
                int v = c.vocabSize();
                assertClose(java.util.Arrays.copyOfRange(step2, 0, v), r1.get(0), 1e-4, "seed " + seed + " seq 1 prefill");
                assertClose(java.util.Arrays.copyOfRange(step2, v, 2 * v), r2.get(1), 1e-4, "seed " + seed + " seq 2 decode");
            }
        }
    }
}
