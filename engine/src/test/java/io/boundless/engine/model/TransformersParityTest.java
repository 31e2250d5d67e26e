package io.boundless.engine.model;

import static org.assertj.core.api.Assertions.assertThat;

import io.boundless.engine.cpu.Parallel;
import io.boundless.engine.format.Json;
import io.boundless.engine.kv.KvCache;
import io.boundless.engine.ref.TransformersReference;
import io.boundless.engine.ref.TransformersReference.Greedy;
import io.boundless.engine.tensor.DType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Hugging Face transformers as the outside reference for the safetensors path. Each run regenerates the goldens:
 * random-initialized models of every architecture (Llama with Llama-3 RoPE scaling, Mistral with a sliding
 * window of 6 under an 11-token prompt and 16 generated tokens, Qwen2 with biases, GPT-2) in F32, F16 and BF16,
 * built and saved by transformers' {@code save_pretrained}; the engine loads each directory and must give
 * transformers' logits for every step (prefill, then decode through a paged cache) and its greedy tokens.
 * The other direction too: models the engine's writer saves are loaded by transformers' {@code from_pretrained}.
 *
 * <p>Per-row bound: the largest |ours - theirs| over the row, relative to max(1, the row's largest |logit|).
 * The reduced-precision models are rounded in transformers before saving and the reference is computed in float32
 * with the rounded weights, so every dtype is held to float32 rounding (both engines compute in float32).
 */
class TransformersParityTest {
    private static final Parallel PARALLEL = new Parallel(2);
    /** The bound per dtype (measured: under 2.5e-6 for each). */
    static final Map<DType, Double> BOUND = Map.of(DType.F32, 1e-5, DType.F16, 1e-5, DType.BF16, 1e-5);
    private static final int STEPS = 16;

    @TempDir
    static Path goldens;

    @BeforeAll
    static void regenerateGoldens() throws Exception {
        TransformersReference.run("golden", goldens);
    }

    @AfterAll
    static void stop() {
        PARALLEL.close();
    }

    static Stream<Arguments> goldenCases() {
        List<Arguments> out = new ArrayList<>();
        for (String arch : List.of("llama", "mistral", "qwen2", "gpt2")) {
            for (String dtype : List.of("float32", "float16", "bfloat16")) {
                out.add(Arguments.of(arch, dtype));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("goldenCases")
    @SuppressWarnings("unchecked")
    void matchesTransformersOnModelsItSaved(String arch, String dtype) throws Exception {
        Path dir = goldens.resolve(arch + "-" + dtype);
        Greedy ref = Greedy.of((Map<String, Object>) Json.parse(Files.readString(dir.resolve("reference.json"))));
        try (LoadedModel m = LoadedModel.open(dir)) {
            DType d = switch (dtype) {
                case "float16" -> DType.F16;
                case "bfloat16" -> DType.BF16;
                default -> DType.F32;
            };
            assertThat(m.weights().embeddings().dtype()).as("weights kept as saved").isEqualTo(d);
            if (arch.equals("mistral")) {
                assertThat(m.config().slidingWindow()).isEqualTo(6);
            }
            if (arch.equals("llama")) {
                assertThat(m.config().ropeScaling()).isNotNull();
            }
            compare(arch + " " + dtype, m, ref, BOUND.get(d));
        }
    }

    /** Models the engine's own writer saves, read by transformers: a fixed seed for each architecture and dtype, and one random seed. */
    @Test
    void transformersReadsWhatOurWriterSaves(@TempDir Path dir) throws Exception {
        long randomSeed = new Random().nextLong();
        System.out.println("TransformersParityTest random seed " + randomSeed);
        List<Path> dirs = new ArrayList<>();
        List<int[]> prompts = new ArrayList<>();
        List<String> names = new ArrayList<>();
        List<DType> dtypes = new ArrayList<>();
        for (ModelConfig c : TestModels.all()) {
            for (DType d : List.of(DType.F32, DType.F16, DType.BF16)) {
                for (long seed : d == DType.F32 ? new long[] {42, randomSeed} : new long[] {42}) {
                    Path m = dir.resolve(c.arch() + "-" + d + "-" + dirs.size());
                    ModelWriter.writeHuggingFace(m, c, ModelWriter.randomWeights(c, seed), d);
                    dirs.add(m);
                    prompts.add(TransformerTest.prompt(new SplittableRandom(seed), 11, c.vocabSize()));
                    names.add(c.arch() + " " + d + " seed " + seed);
                    dtypes.add(d);
                }
            }
        }
        List<Greedy> refs = TransformersReference.greedy(dir, dirs, prompts, STEPS);
        for (int i = 0; i < dirs.size(); i++) {
            try (LoadedModel m = LoadedModel.open(dirs.get(i))) {
                compare(names.get(i), m, refs.get(i), BOUND.get(dtypes.get(i)));
            }
        }
    }

    /**
     * Runs the engine on the reference's prompt and then on the reference's greedy tokens (so a near-tie cannot send
     * the two down different paths), checks each row against the bound, and that our greedy choice is theirs wherever
     * their top two logits are further apart than the bound allows us to move.
     */
    static void compare(String what, LoadedModel m, Greedy ref, double bound) {
        ModelConfig c = m.config();
        Transformer t = new Transformer(m.weights(), PARALLEL);
        KvCache cache = new KvCache(c.layers(), c.kvDim(), 4, 12);
        int[] table = {7, 2, 9, 0, 11, 4, 1, 10}; // 32 positions in scattered blocks
        int[] prompt = ref.prompt().stream().mapToInt(Integer::intValue).toArray();
        float[] logits = t.forward(List.of(new Transformer.Chunk(prompt, 0, table, true)), cache);
        double worst = 0;
        int pos = prompt.length;
        for (int s = 0; s < ref.logits().size(); s++) {
            float[] theirs = ref.logits().get(s);
            double scale = 1;
            for (float v : theirs) {
                scale = Math.max(scale, Math.abs(v));
            }
            double row = 0;
            for (int i = 0; i < theirs.length; i++) {
                row = Math.max(row, Math.abs(logits[i] - theirs[i]) / scale);
            }
            assertThat(row).as("%s step %d: largest logit difference relative to the row's scale %.1f", what, s, scale).isLessThanOrEqualTo(bound);
            worst = Math.max(worst, row);
            int token = ref.tokens().get(s);
            if (margin(theirs) > 4 * bound * scale) {
                assertThat(TransformerTest.argmax(logits)).as("%s step %d greedy token", what, s).isEqualTo(token);
            }
            logits = t.forward(List.of(new Transformer.Chunk(new int[] {token}, pos++, table, true)), cache);
        }
        System.out.printf("transformers parity %s: largest relative logit difference %.2e over %d steps%n", what, worst, ref.logits().size());
    }

    private static double margin(float[] x) {
        int best = TransformerTest.argmax(x);
        double second = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < x.length; i++) {
            if (i != best) {
                second = Math.max(second, x[i]);
            }
        }
        return x[best] - second;
    }
}
