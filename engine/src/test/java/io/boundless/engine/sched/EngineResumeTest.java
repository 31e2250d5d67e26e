package io.boundless.engine.sched;

import static io.boundless.engine.sched.EngineTest.drain;
import static io.boundless.engine.sched.EngineTest.engine;
import static io.boundless.engine.sched.EngineTest.prompt;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.boundless.engine.sample.SamplingParams;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A sample resumed from the tokens it had produced (on another engine: its keys and values recomputed)
 * continues as the uninterrupted run would, token for token, for greedy and seeded sampling of every
 * kind the sampler has (whole rows, top-k and top-p candidates, a draw on the backend, penalties), for
 * the leader and the forks of n > 1, cut anywhere.
 */
class EngineResumeTest {

    @BeforeAll
    static void model() throws Exception {
        EngineTest.writeModel();
    }

    @AfterAll
    static void close() {
        EngineTest.close();
    }

    static List<SamplingParams> kinds(long seed) {
        return List.of(
                new SamplingParams(0, 0, 1, 0, 1, 0, 0, null, 0, List.of(), 14, 0, true),                 // greedy: argmax row
                new SamplingParams(0, 0, 1, 0, 1, 0, 0, null, 2, List.of(), 14, 0, true),                 // greedy with logprobs: top-k row
                new SamplingParams(0.8f, 20, 0.9f, 0.05f, 1, 0, 0, seed, 2, List.of(), 14, 0, true),      // top-k candidates
                new SamplingParams(0.8f, 0, 0.9f, 0, 1, 0, 0, seed + 1, 0, List.of(), 14, 0, true),       // top-p candidates
                new SamplingParams(0.9f, 0, 1, 0.02f, 1, 0, 0, seed + 2, 3, List.of(), 14, 0, true),      // a draw on the backend
                new SamplingParams(1.1f, 50, 0.95f, 0.01f, 1.2f, 0.3f, 0.2f, seed + 3, 0, List.of(), 14, 0, true), // penalties: whole row
                new SamplingParams(1.2f, 0, 1, 0, 1, 0, 0, seed + 4, 0, List.of(), 14, 3, false));        // min_new_tokens, EOS on
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("io.boundless.engine.Seeds#fixedAndRandom")
    void aResumedSampleContinuesAsTheUninterruptedRun(long seed) {
        int[] p = prompt(seed, 19);
        List<SamplingParams> kinds = kinds(seed);
        for (int k = 0; k < kinds.size(); k++) {
            SamplingParams params = kinds.get(k);
            for (int n : new int[] {1, 3}) {
                List<List<Integer>> whole = run(p, params, n);
                for (int sample = 0; sample < n; sample++) {
                    List<Integer> full = whole.get(sample);
                    for (int cut : new int[] {0, 1, 5, full.size() - 1}) {
                        if (cut < 0 || cut >= full.size()) {
                            continue;
                        }
                        List<Integer> rest = resumed(p, full.subList(0, cut), params, sample, n);
                        List<Integer> joined = new ArrayList<>(full.subList(0, cut));
                        joined.addAll(rest);
                        assertThat(joined).as("seed %d, kind %d, sample %d of %d, cut after %d tokens", seed, k, sample, n, cut).isEqualTo(full);
                    }
                }
            }
        }
    }

    @Test
    void aSampleThatHadEndedEndsAtOnce() {
        int[] p = prompt(5, 9);
        SamplingParams stopAt = new SamplingParams(0, 0, 1, 0, 1, 0, 0, null, 0, List.of(7), 6, 0, true);
        try (Engine e = engine(64, 512)) {
            EngineTest.Collector c = new EngineTest.Collector();
            long stopped = e.resume(p, new int[] {3, 7}, stopAt, 0, 1, 0, c);       // its last token was a stop token
            long full = e.resume(p, new int[] {1, 2, 3, 4, 5, 6}, stopAt, 0, 1, 0, c); // max_new_tokens reached
            drain(e);
            assertThat(c.finished.get(stopped)).isEqualTo(Sequence.FinishReason.STOP);
            assertThat(c.finished.get(full)).isEqualTo(Sequence.FinishReason.LENGTH);
            assertThat(c.tokens).doesNotContainKeys(stopped, full);
            assertThat(e.freeBlocks()).isEqualTo(e.totalBlocks());
            // min_new_tokens not yet reached: a stop token does not end it
            SamplingParams atLeast = new SamplingParams(0, 0, 1, 0, 1, 0, 0, null, 0, List.of(7), 6, 3, true);
            long goesOn = e.resume(p, new int[] {7}, atLeast, 0, 1, 0, c);
            drain(e);
            assertThat(c.tokens.get(goesOn)).isNotEmpty();
        }
    }

    @Test
    void badResumesAreRefusedWithTheirReason() {
        int[] p = prompt(6, 9);
        SamplingParams g = SamplingParams.greedy(4);
        try (Engine e = engine(64, 512)) {
            EngineTest.Collector c = new EngineTest.Collector();
            assertThatThrownBy(() -> e.resume(p, new int[] {1}, g, 3, 3, 0, c)).hasMessageContaining("index 0 to samples - 1");
            assertThatThrownBy(() -> e.resume(p, new int[] {1, 2, 3, 4, 5}, g, 0, 1, 0, c)).hasMessageContaining("more than max_new_tokens (4)");
            assertThatThrownBy(() -> e.resume(p, new int[] {100_000}, g, 0, 1, 0, c)).hasMessageContaining("generated token id 100000");
        }
    }

    /** Each sample's tokens of one uninterrupted run. */
    private static List<List<Integer>> run(int[] p, SamplingParams params, int n) {
        try (Engine e = engine(256, 512)) {
            EngineTest.Collector c = new EngineTest.Collector();
            long[] ids = e.submit(p, params, n, 0, c);
            drain(e);
            List<List<Integer>> out = new ArrayList<>();
            for (long id : ids) {
                out.add(c.tokens.get(id));
            }
            return out;
        }
    }

    /** The tokens a fresh engine adds to a sample resumed after generated (with other work batched beside it). */
    private static List<Integer> resumed(int[] p, List<Integer> generated, SamplingParams params, int sample, int n) {
        try (Engine e = engine(256, 512)) {
            EngineTest.Collector c = new EngineTest.Collector();
            e.submit(prompt(99, 11), SamplingParams.greedy(20), 1, 0, c);
            long id = e.resume(p, generated.stream().mapToInt(Integer::intValue).toArray(), params, sample, n, 0, c);
            drain(e);
            assertThat(c.finished.get(id)).isNotNull();
            return c.tokens.getOrDefault(id, List.of());
        }
    }
}
