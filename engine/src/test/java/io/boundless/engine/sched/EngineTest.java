package io.boundless.engine.sched;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.boundless.engine.backend.Backend;
import io.boundless.engine.backend.CpuBackend;
import io.boundless.engine.backend.RowNeed;
import io.boundless.engine.backend.StepOutput;
import io.boundless.engine.cpu.Rope;
import io.boundless.engine.model.Transformer;
import io.boundless.engine.model.Architecture;
import io.boundless.engine.model.LoadedModel;
import io.boundless.engine.model.ModelConfig;
import io.boundless.engine.model.ModelWriter;
import io.boundless.engine.sample.RowReduction;
import io.boundless.engine.sample.Sampler;
import io.boundless.engine.sample.SamplingParams;
import io.boundless.engine.tensor.DType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.ParameterizedTest;

/** The engine loop, driven step by step: batching, prefix caching, preemption, seeds, n > 1, aborts and limits. */
class EngineTest {
    static final ModelConfig CONFIG = new ModelConfig(Architecture.LLAMA, 300, 64, 160, 2, 8, 2, 8, 1e-5f, 10000,
            (Rope.Llama3Scaling) null, 512, false, false, 0, 298, List.of(299));
    static Path dir;
    static LoadedModel model;

    @BeforeAll
    static void writeModel() throws IOException {
        dir = Files.createTempDirectory("engine-test");
        ModelWriter.writeHuggingFace(dir, CONFIG, ModelWriter.randomWeights(CONFIG, 42), DType.F32);
        model = LoadedModel.open(dir);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    /** Collects tokens and ends per sequence id. */
    static final class Collector implements SequenceListener {
        // concurrent: some tests read these from the test thread while the engine thread writes them
        final Map<Long, List<Integer>> tokens = new java.util.concurrent.ConcurrentHashMap<>();
        final Map<Long, List<Float>> logprobs = new java.util.concurrent.ConcurrentHashMap<>();
        final Map<Long, Sequence.FinishReason> finished = new java.util.concurrent.ConcurrentHashMap<>();
        final Map<Long, Integer> cached = new java.util.concurrent.ConcurrentHashMap<>();

        @Override
        public void onToken(Sequence seq, Sampler.Sample sample) {
            tokens.computeIfAbsent(seq.id, k -> new ArrayList<>()).add(sample.token());
            logprobs.computeIfAbsent(seq.id, k -> new ArrayList<>()).add(sample.logprob());
            cached.put(seq.id, seq.cachedPromptTokens());
        }

        @Override
        public void onFinish(Sequence seq, Sequence.FinishReason reason) {
            finished.put(seq.id, reason);
        }
    }

    static Engine engine(int blocks, int batchTokens) {
        long budget = blocks * io.boundless.engine.kv.KvCache.bytesPerBlock(CONFIG, 4);
        return new Engine(model.weights(), new EngineConfig(4, budget, batchTokens, 16, 64, 2));
    }

    static void drain(Engine e) {
        for (int i = 0; i < 10_000 && e.step(); i++) {
            // run until idle
        }
    }

    static int[] prompt(long seed, int n) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = r.nextInt(290);
        }
        return p;
    }

    /**
     * Greedy, generating past EOS: tests on random prompts that need their sequences to run their
     * length (to force preemption, to hold blocks) must not depend on whether a random model says EOS.
     */
    static SamplingParams greedyPastEos(int maxNewTokens) {
        return new SamplingParams(0, 0, 1, 0, 1, 0, 0, null, 0, List.of(), maxNewTokens, 0, true);
    }

    static List<Integer> alone(int[] prompt, SamplingParams p) {
        try (Engine e = engine(256, 512)) {
            Collector c = new Collector();
            long id = e.submit(prompt, p, 1, 0, c)[0];
            drain(e);
            return c.tokens.get(id);
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("io.boundless.engine.Seeds#fixedAndRandom")
    void batchedSequencesGetTheirSingleSequenceTokens(long seed) {
        List<int[]> prompts = List.of(prompt(seed, 23), prompt(seed + 1, 5), prompt(seed + 2, 41), prompt(seed + 3, 12));
        SamplingParams greedy = greedyPastEos(20);
        try (Engine e = engine(256, 24)) { // a small token budget forces chunked prefill next to decodes
            Collector c = new Collector();
            List<Long> ids = new ArrayList<>();
            for (int[] p : prompts) {
                ids.add(e.submit(p, greedy, 1, 0, c)[0]);
            }
            drain(e);
            for (int i = 0; i < prompts.size(); i++) {
                assertThat(c.tokens.get(ids.get(i))).as("seed %d, prompt %d", seed, i).isEqualTo(alone(prompts.get(i), greedy));
                assertThat(c.finished.get(ids.get(i))).isEqualTo(Sequence.FinishReason.LENGTH);
            }
            assertThat(e.freeBlocks()).isEqualTo(e.totalBlocks());
        }
    }

    /** A test backend over the CPU one: everything but forward and name delegates. */
    abstract static class OverCpu implements Backend {
        final CpuBackend cpu;

        OverCpu(CpuBackend cpu) {
            this.cpu = cpu;
        }

        @Override
        public String device() {
            return cpu.device();
        }

        @Override
        public int numBlocks() {
            return cpu.numBlocks();
        }

        @Override
        public int blockSize() {
            return cpu.blockSize();
        }

        @Override
        public void copyBlock(int from, int to) {
            cpu.copyBlock(from, to);
        }

        @Override
        public void close() {
            cpu.close();
        }
    }

    /**
     * A backend that, like the CUDA one, returns of each logits row only what the engine's need
     * asks for (the reductions computed from the CPU's logits as the device computes them), and
     * counts the needs.
     */
    static final class Reducing extends OverCpu {
        final Map<RowNeed.Kind, Integer> counts = new java.util.EnumMap<>(RowNeed.Kind.class);
        int fetched;

        Reducing(CpuBackend cpu) {
            super(cpu);
        }

        @Override
        public StepOutput forward(List<Transformer.Chunk> chunks, RowNeed[] needs) {
            StepOutput all = cpu.forward(chunks, needs);
            int vocab = CONFIG.vocabSize();
            int[] offsets = new int[needs.length];
            int[] ids = new int[needs.length];
            float[] lps = new float[needs.length];
            StepOutput.Candidates[] cands = new StepOutput.Candidates[needs.length];
            int[] drawn = new int[needs.length];
            float[] drawnLp = new float[needs.length];
            for (int i = 0; i < needs.length; i++) {
                float[] row = java.util.Arrays.copyOfRange(all.logits(), all.offset(i), all.offset(i) + vocab);
                ids[i] = RowReduction.argmax(row);
                lps[i] = row[ids[i]] - RowReduction.logSumExp(row);
                offsets[i] = needs[i].kind() == RowNeed.Kind.WHOLE ? all.offset(i) : -1;
                if (needs[i].kind() == RowNeed.Kind.TOP_K || needs[i].kind() == RowNeed.Kind.DRAW && needs[i].k() > 0) {
                    cands[i] = RowReduction.candidates(row, needs[i].k(), needs[i].temperature());
                }
                drawn[i] = -1;
                if (needs[i].kind() == RowNeed.Kind.DRAW) {
                    drawn[i] = RowReduction.draw(row, needs[i].temperature(), needs[i].minP(), needs[i].u());
                    drawnLp[i] = row[drawn[i]] - RowReduction.logSumExp(row);
                }
                counts.merge(needs[i].kind(), 1, Integer::sum);
            }
            return new StepOutput(all.logits(), offsets, ids, lps, cands, drawn, drawnLp, i -> {
                fetched++;
                return java.util.Arrays.copyOfRange(all.logits(), all.offset(i), all.offset(i) + vocab);
            });
        }

        @Override
        public String name() {
            return "reducing";
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("io.boundless.engine.Seeds#fixedAndRandom")
    void reducedRowsSampleExactlyAsWholeRows(long seed) {
        int[] p = prompt(seed, 17);
        SamplingParams greedy = greedyPastEos(12);
        SamplingParams withLogprobs = new SamplingParams(0, 0, 1, 0, 1, 0, 0, null, 3, List.of(), 12, 0, true);
        SamplingParams topK = new SamplingParams(0.8f, 20, 0.9f, 0.05f, 1, 0, 0, seed, 2, List.of(), 12, 0, true);
        SamplingParams topKOnly = new SamplingParams(1.3f, 40, 1, 0, 1, 0, 0, seed + 1, 0, List.of(), 12, 0, true);
        SamplingParams topPOnly = new SamplingParams(0.8f, 0, 0.9f, 0, 1, 0, 0, seed + 2, 0, List.of(), 12, 0, true);
        SamplingParams penalized = new SamplingParams(0.8f, 20, 1, 0, 1.1f, 0, 0, seed + 3, 0, List.of(), 12, 0, true);
        SamplingParams minTokens = new SamplingParams(0, 0, 1, 0, 1, 0, 0, null, 0, List.of(), 12, 4, true);
        SamplingParams temperatureOnly = new SamplingParams(0.9f, 0, 1, 0.02f, 1, 0, 0, seed + 4, 3, List.of(), 12, 0, true);
        SamplingParams topPWide = new SamplingParams(3f, 0, 0.999f, 0, 1, 0, 0, seed + 5, 0, List.of(), 12, 0, true);
        EngineConfig cfg = new EngineConfig(4, 256 * io.boundless.engine.kv.KvCache.bytesPerBlock(CONFIG, 4), 512, 16, 64, 2);
        Collector reference = new Collector();
        Collector reduced = new Collector();
        Reducing backend = new Reducing(new CpuBackend(model.weights(), 2, 4, cfg.kvBudgetBytes()));
        List<SamplingParams> all = List.of(greedy, withLogprobs, topK, topKOnly, topPOnly, penalized, minTokens, temperatureOnly, topPWide);
        long[] refIds = new long[all.size()];
        long[] redIds = new long[all.size()];
        try (Engine e = engine(256, 512); Engine r = new Engine(CONFIG, cfg, backend)) {
            for (int i = 0; i < all.size(); i++) {
                refIds[i] = e.submit(p, all.get(i), i == 2 ? 2 : 1, 0, reference)[0];
                redIds[i] = r.submit(p, all.get(i), i == 2 ? 2 : 1, 0, reduced)[0];
            }
            drain(e);
            drain(r);
        }
        for (int i = 0; i < all.size(); i++) {
            for (int sample = 0; sample < (i == 2 ? 2 : 1); sample++) {
                long ref = refIds[i] + sample;
                long red = redIds[i] + sample;
                assertThat(reduced.tokens.get(red)).as("seed %d, params %d, sample %d", seed, i, sample).isEqualTo(reference.tokens.get(ref));
                assertThat(reduced.logprobs.get(red)).as("seed %d, params %d", seed, i).isEqualTo(reference.logprobs.get(ref));
            }
        }
        // greedy: argmax; logprobs and top-k sampling: candidates; temperature and min-p alone: drawn on the backend;
        // top-p alone, penalties and min_new_tokens: whole rows
        assertThat(backend.counts.get(RowNeed.Kind.ARGMAX)).isEqualTo(12 + 8);
        // top-k: 12, n = 2 (one prompt row, then a row per sample), 12; top-p alone: 12 and 12 (at temperature 3
        // and top_p 0.999 the 64 best never hold the mass, so those rows are fetched whole afterwards)
        assertThat(backend.counts.get(RowNeed.Kind.TOP_K)).isEqualTo(12 + (1 + 2 * 11) + 12 + 12 + 12);
        assertThat(backend.fetched).isBetween(12, 24);
        assertThat(backend.counts.get(RowNeed.Kind.WHOLE)).isEqualTo(12 + 4);
        assertThat(backend.counts.get(RowNeed.Kind.DRAW)).isEqualTo(12);
    }

    /** A CPU backend whose device "fails" from the given step on, with a device failure or an ordinary error. */
    static final class FailingBackend extends OverCpu {
        final int failFrom;
        final boolean deviceFailure;
        int steps;

        FailingBackend(CpuBackend cpu, int failFrom, boolean deviceFailure) {
            super(cpu);
            this.failFrom = failFrom;
            this.deviceFailure = deviceFailure;
        }

        @Override
        public StepOutput forward(List<Transformer.Chunk> chunks, RowNeed[] needs) {
            if (++steps == failFrom || deviceFailure && steps > failFrom) {
                if (deviceFailure) {
                    throw new io.boundless.engine.cuda.CudaException("the step's kernels failed: CUDA_ERROR_ILLEGAL_ADDRESS");
                }
                throw new IllegalStateException("a bad step");
            }
            return cpu.forward(chunks, needs);
        }

        @Override
        public String name() {
            return "failing";
        }
    }

    @Test
    void aDeviceFailureStopsTheEngineWithAClearErrorAndAnOrdinaryErrorDoesNot() {
        EngineConfig cfg = new EngineConfig(4, 64 * io.boundless.engine.kv.KvCache.bytesPerBlock(CONFIG, 4), 512, 16, 64, 2);
        for (boolean device : new boolean[] {true, false}) {
            List<String> heard = new java.util.concurrent.CopyOnWriteArrayList<>();
            try (Engine e = new Engine(CONFIG, cfg, new FailingBackend(new CpuBackend(model.weights(), 2, 4, cfg.kvBudgetBytes()), 3, device))) {
                e.onFailure(f -> heard.add(f.getMessage()));
                Collector c = new Collector();
                long id = e.submit(prompt(1, 9), greedyPastEos(10), 1, 0, c)[0];
                e.start(); // the engine thread is where a failed step is caught
                org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(30)).until(() -> c.finished.containsKey(id));
                assertThat(c.finished.get(id)).isEqualTo(Sequence.FinishReason.ABORTED);
                assertThat(c.tokens.get(id)).hasSize(2); // prefill and one decode, then the failed step
                if (device) {
                    assertThat(e.failure()).contains("the failing backend failed: the step's kernels failed: CUDA_ERROR_ILLEGAL_ADDRESS");
                    assertThat(heard).containsExactly("the step's kernels failed: CUDA_ERROR_ILLEGAL_ADDRESS");
                    assertThatThrownBy(() -> e.submit(prompt(2, 5), greedyPastEos(3), 1, 0, c)).isInstanceOf(Engine.UnavailableException.class)
                            .hasMessageContaining("serves no more requests");
                    assertThatThrownBy(() -> e.score(prompt(2, 5), new int[] {1}, 0, c)).isInstanceOf(Engine.UnavailableException.class);
                } else {
                    assertThat(e.failure()).isEmpty();
                    long next = e.submit(prompt(2, 5), greedyPastEos(3), 1, 0, c)[0];
                    org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(30)).until(() -> c.finished.containsKey(next));
                    assertThat(c.finished.get(next)).isEqualTo(Sequence.FinishReason.LENGTH);
                }
            }
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("io.boundless.engine.Seeds#fixedAndRandom")
    void aPrefixCacheHitGivesTheSameTokensAsAMiss(long seed) {
        int[] shared = prompt(seed, 30);
        int[] other = shared.clone();
        other[29] = (other[29] + 1) % 290;
        SamplingParams greedy = SamplingParams.greedy(12);
        try (Engine e = engine(256, 512)) {
            Collector c = new Collector();
            long first = e.submit(shared, greedy, 1, 0, c)[0];
            drain(e);
            long second = e.submit(shared, greedy, 1, 0, c)[0];
            long third = e.submit(other, greedy, 1, 0, c)[0];
            drain(e);
            assertThat(c.cached.get(first)).isZero();
            assertThat(c.cached.get(second)).as("all full blocks of the prompt").isEqualTo(28);
            assertThat(c.cached.get(third)).isEqualTo(28);
            assertThat(c.tokens.get(second)).isEqualTo(c.tokens.get(first));
            assertThat(c.tokens.get(third)).isEqualTo(alone(other, greedy));
            assertThat(e.load().prefixHitRate()).isPositive();
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("io.boundless.engine.Seeds#fixedAndRandom")
    void preemptedSequencesRecomputeToTheSameTokens(long seed) {
        List<int[]> prompts = List.of(prompt(seed, 20), prompt(seed + 1, 22), prompt(seed + 2, 18));
        SamplingParams greedy = greedyPastEos(30);
        try (Engine e = engine(30, 512)) { // 30 blocks of 4: not enough for all three to finish side by side
            Collector c = new Collector();
            List<Long> ids = new ArrayList<>();
            for (int[] p : prompts) {
                ids.add(e.submit(p, greedy, 1, 0, c)[0]);
            }
            drain(e);
            assertThat(e.load().preemptions()).as("the test must force preemption").isPositive();
            for (int i = 0; i < prompts.size(); i++) {
                assertThat(c.tokens.get(ids.get(i))).as("seed %d, prompt %d", seed, i).isEqualTo(alone(prompts.get(i), greedy));
            }
            assertThat(e.freeBlocks()).isEqualTo(e.totalBlocks());
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("io.boundless.engine.Seeds#fixedAndRandom")
    void seededSamplingIsReproducibleWhateverElseIsBatched(long seed) {
        int[] p = prompt(seed, 17);
        SamplingParams sampled = new SamplingParams(1.1f, 50, 0.95f, 0.01f, 1.1f, 0.1f, 0.1f, seed, 3, List.of(), 25, 0, true);
        List<Integer> reference = alone(p, sampled);
        try (Engine e = engine(256, 512)) {
            Collector c = new Collector();
            e.submit(prompt(seed + 9, 33), SamplingParams.greedy(40), 1, 0, c);
            long id = e.submit(p, sampled, 1, 0, c)[0];
            e.submit(prompt(seed + 7, 3), new SamplingParams(0.8f, 0, 1, 0, 1, 0, 0, null, 0, List.of(), 10, 0, true), 1, 0, c);
            drain(e);
            assertThat(c.tokens.get(id)).as("seed %d", seed).isEqualTo(reference);
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("io.boundless.engine.Seeds#fixedAndRandom")
    void nSamplesShareThePromptsBlocks(long seed) {
        int[] p = prompt(seed, 26); // ends inside a block: the forks copy it on write
        try (Engine e = engine(256, 512)) {
            Collector c = new Collector();
            long[] ids = e.submit(p, greedyPastEos(8), 4, 0, c);
            e.step(); // prefill + fork
            assertThat(e.totalBlocks() - e.freeBlocks()).as("4 samples share 7 prompt blocks").isEqualTo(7);
            drain(e);
            for (long id : ids) {
                assertThat(c.tokens.get(id)).as("greedy samples agree").isEqualTo(c.tokens.get(ids[0]));
            }
            assertThat(c.tokens.get(ids[0])).isEqualTo(alone(p, greedyPastEos(8)));
            // with a seed and temperature the samples differ from each other but reproduce
            SamplingParams t = new SamplingParams(1.5f, 0, 1, 0, 1, 0, 0, seed, 0, List.of(), 12, 0, true);
            long[] a = e.submit(p, t, 3, 0, c);
            drain(e);
            long[] b = e.submit(p, t, 3, 0, c);
            drain(e);
            for (int i = 0; i < 3; i++) {
                assertThat(c.tokens.get(b[i])).isEqualTo(c.tokens.get(a[i]));
            }
            assertThat(c.tokens.get(a[0])).isNotEqualTo(c.tokens.get(a[1]));
            assertThat(e.freeBlocks()).isEqualTo(e.totalBlocks());
        }
    }

    @Test
    void abortFreesBlocksAndStopConditionsHold() {
        try (Engine e = engine(256, 512)) {
            Collector c = new Collector();
            long id = e.submit(prompt(1, 40), SamplingParams.greedy(200), 1, 0, c)[0];
            e.step();
            e.step();
            assertThat(e.freeBlocks()).isLessThan(e.totalBlocks());
            e.abort(id);
            e.step();
            assertThat(c.finished.get(id)).isEqualTo(Sequence.FinishReason.ABORTED);
            assertThat(e.freeBlocks()).isEqualTo(e.totalBlocks());

            // a stop token ends the sequence, but not before min_new_tokens
            List<Integer> free = alone(prompt(2, 10), SamplingParams.greedy(10));
            int stopAt = free.get(2);
            long s = e.submit(prompt(2, 10), new SamplingParams(0, 0, 1, 0, 1, 0, 0, null, 0, List.of(stopAt), 10, 0, false), 1, 0, c)[0];
            drain(e);
            assertThat(c.finished.get(s)).isEqualTo(Sequence.FinishReason.STOP);
            assertThat(c.tokens.get(s)).endsWith(stopAt).hasSize(free.indexOf(stopAt) + 1);
            long m = e.submit(prompt(2, 10), new SamplingParams(0, 0, 1, 0, 1, 0, 0, null, 0, List.of(stopAt), 10, 10, false), 1, 0, c)[0];
            drain(e);
            assertThat(c.tokens.get(m)).hasSize(10).doesNotContain(stopAt);
            assertThat(c.finished.get(m)).isEqualTo(Sequence.FinishReason.LENGTH);
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("io.boundless.engine.Seeds#fixedAndRandom")
    void scoreGivesTheLogprobsThatGenerationSaw(long seed) {
        int[] p = prompt(seed, 21);
        try (Engine e = engine(256, 16)) { // chunked: the continuation's rows arrive over several steps
            Collector c = new Collector();
            long gen = e.submit(p, new SamplingParams(0, 0, 1, 0, 1, 0, 0, null, 1, List.of(), 9, 0, true), 1, 0, c)[0];
            drain(e);
            int[] continuation = c.tokens.get(gen).stream().mapToInt(Integer::intValue).toArray();
            float[][] got = new float[1][];
            SequenceListener scorer = new SequenceListener() {
                public void onToken(Sequence s, Sampler.Sample sample) {}

                public void onFinish(Sequence s, Sequence.FinishReason r) {}

                public void onScore(Sequence s, float[] lp, int[][] ids, float[][] tlp) {
                    got[0] = lp;
                    assertThat(ids[0]).hasSize(2);
                }
            };
            e.score(p, continuation, 2, scorer);
            drain(e);
            assertThat(got[0]).hasSize(continuation.length);
            for (int i = 0; i < continuation.length; i++) {
                assertThat((double) got[0][i]).as("seed %d token %d", seed, i)
                        .isCloseTo(c.logprobs.get(gen).get(i), org.assertj.core.data.Offset.offset(1e-4));
            }
            assertThat(e.freeBlocks()).isEqualTo(e.totalBlocks());
        }
    }

    @Test
    void aLogitBiasOfPlus100ForcesItsTokenAndOnePastTheVocabularyIsRefused() {
        try (Engine e = engine(256, 512)) {
            Collector c = new Collector();
            SamplingParams forced = new SamplingParams(0, 0, 1, 0, 1, 0, 0, null, 0, List.of(), 6, 0, true, java.util.Map.of(7, 100f));
            long id = e.submit(prompt(1, 9), forced, 1, 0, c)[0];
            while (!c.finished.containsKey(id)) {
                e.step();
            }
            assertThat(c.tokens.get(id)).hasSize(6).containsOnly(7);
            assertThat(Engine.need(new Sequence(1, new int[] {1}, forced, 0, 0, new java.util.SplittableRandom(1), c), 256))
                    .isEqualTo(io.boundless.engine.backend.RowNeed.WHOLE);  // the bias is applied to the whole row on the host
            assertThatThrownBy(() -> e.submit(prompt(1, 9), new SamplingParams(0, 0, 1, 0, 1, 0, 0, null, 0, List.of(), 6, 0, false,
                    java.util.Map.of(100_000, 1f)), 1, 0, c)).hasMessageContaining("logit_bias names token id 100000, outside the vocabulary");
        }
    }

    @Test
    void badRequestsAreRefusedByName() {
        try (Engine e = engine(16, 512)) {
            Collector c = new Collector();
            assertThatThrownBy(() -> e.submit(new int[] {1, 300}, SamplingParams.greedy(4), 1, 0, c)).hasMessageContaining("300").hasMessageContaining("position 1");
            assertThatThrownBy(() -> e.submit(new int[0], SamplingParams.greedy(4), 1, 0, c)).hasMessageContaining("empty");
            assertThatThrownBy(() -> e.submit(new int[512], SamplingParams.greedy(4), 1, 0, c)).hasMessageContaining("context");
            assertThatThrownBy(() -> e.submit(new int[40], SamplingParams.greedy(100), 1, 0, c)).hasMessageContaining("KV blocks");
            for (int i = 0; i < 16 + 64; i++) {
                e.submit(new int[] {1, 2}, SamplingParams.greedy(4), 1, 0, c);
            }
            assertThatThrownBy(() -> e.submit(new int[] {1, 2}, SamplingParams.greedy(4), 1, 0, c)).isInstanceOf(Engine.OverloadedException.class);
        }
    }
}
