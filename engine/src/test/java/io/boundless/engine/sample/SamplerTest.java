package io.boundless.engine.sample;

import io.boundless.engine.Seeds;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class SamplerTest {
    private static SamplingParams params(float temperature, int topK, float topP, float minP, Long seed, int logprobs) {
        return new SamplingParams(temperature, topK, topP, minP, 1, 0, 0, seed, logprobs, List.of(), 16, 0, false);
    }

    private static float[] logits(long seed, int n) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] l = new float[n];
        for (int i = 0; i < n; i++) {
            l[i] = (float) (r.nextGaussian() * 2);
        }
        return l;
    }

    @Test
    void greedyTakesTheArgmaxAndReportsLogprobs() {
        for (long seed : Seeds.both()) {
            float[] l = logits(seed, 50);
            Sampler.Sample s = Sampler.sample(l, 0, 50, params(0, 0, 1, 0, null, 5), new SplittableRandom(1), null, null, new int[0]);
            assertThat(s.token()).isEqualTo(Sampler.argmax(l));
            double lse = 0;
            for (float v : l) {
                lse += Math.exp(v);
            }
            lse = Math.log(lse);
            assertThat((double) s.logprob()).isCloseTo(l[s.token()] - lse, org.assertj.core.data.Offset.offset(1e-5));
            assertThat(s.topIds()).hasSize(5);
            assertThat(s.topIds()[0]).isEqualTo(s.token());
            for (int i = 1; i < 5; i++) {
                assertThat(s.topLogprobs()[i]).isLessThanOrEqualTo(s.topLogprobs()[i - 1]);
            }
        }
    }

    @Test
    void samplingFollowsTheTemperedDistribution() {
        float[] l = {0f, 1f, 2f, -1f};
        for (long seed : Seeds.both()) {
            SplittableRandom r = new SplittableRandom(seed);
            int[] counts = new int[4];
            int n = 40_000;
            for (int i = 0; i < n; i++) {
                counts[Sampler.sample(l, 0, 4, params(0.7f, 0, 1, 0, null, 0), r, null, null, new int[0]).token()]++;
            }
            double z = 0;
            for (float v : l) {
                z += Math.exp(v / 0.7);
            }
            for (int i = 0; i < 4; i++) {
                double expected = Math.exp(l[i] / 0.7) / z;
                assertThat(counts[i] / (double) n).as("token %d", i).isCloseTo(expected, org.assertj.core.data.Offset.offset(0.012));
            }
        }
    }

    @Test
    void aLogitBiasShiftsTheDistributionAndLeavesTheReportedLogprobsTheModels() {
        float[] l = {0f, 1f, 2f, -1f};
        java.util.Map<Integer, Float> bias = java.util.Map.of(0, 1.5f, 2, -100f);
        for (long seed : Seeds.both()) {
            SplittableRandom r = new SplittableRandom(seed);
            SamplingParams p = new SamplingParams(0.7f, 0, 1, 0, 1, 0, 0, null, 0, List.of(), 16, 0, false, bias);
            int[] counts = new int[4];
            int n = 40_000;
            double lse = 0;
            for (float v : l) {
                lse += Math.exp(v);
            }
            lse = Math.log(lse);
            for (int i = 0; i < n; i++) {
                Sampler.Sample x = Sampler.sample(l, 0, 4, p, r, null, null, new int[0]);
                counts[x.token()]++;
                assertThat((double) x.logprob()).isCloseTo(l[x.token()] - lse, org.assertj.core.data.Offset.offset(1e-5));  // the model's, unbiased
            }
            // float64 reference: softmax((l + bias) / T)
            double[] biased = {l[0] + 1.5, l[1], l[2] - 100, l[3]};
            double z = 0;
            for (double v : biased) {
                z += Math.exp(v / 0.7);
            }
            for (int i = 0; i < 4; i++) {
                assertThat(counts[i] / (double) n).as("token %d", i).isCloseTo(Math.exp(biased[i] / 0.7) / z, org.assertj.core.data.Offset.offset(0.012));
            }
            assertThat(counts[2]).isZero();
            // greedy: +100 forces a token, -100 bans the argmax
            SamplingParams force = new SamplingParams(0, 0, 1, 0, 1, 0, 0, null, 0, List.of(), 16, 0, false, java.util.Map.of(3, 100f));
            assertThat(Sampler.sample(l, 0, 4, force, r, null, null, new int[0]).token()).isEqualTo(3);
            SamplingParams ban = new SamplingParams(0, 0, 1, 0, 1, 0, 0, null, 0, List.of(), 16, 0, false, java.util.Map.of(2, -100f));
            assertThat(Sampler.sample(l, 0, 4, ban, r, null, null, new int[0]).token()).isEqualTo(1);
        }
        assertThatThrownBy(() -> new SamplingParams(0, 0, 1, 0, 1, 0, 0, null, 0, List.of(), 16, 0, false, java.util.Map.of(1, 101f)))
                .hasMessageContaining("logit_bias of token 1 must be -100 to 100");
        assertThatThrownBy(() -> new SamplingParams(0, 0, 1, 0, 1, 0, 0, null, 0, List.of(), 16, 0, false, java.util.Map.of(-1, 1f)))
                .hasMessageContaining("token id must be 0 or more");
    }

    @Test
    void topKTopPAndMinPKeepOnlyTheirTokens() {
        float[] l = {5f, 4f, 3f, 0f, -2f};
        for (long seed : Seeds.both()) {
            SplittableRandom r = new SplittableRandom(seed);
            for (int i = 0; i < 2000; i++) {
                assertThat(Sampler.sample(l, 0, 5, params(1, 2, 1, 0, null, 0), r, null, null, new int[0]).token()).isIn(0, 1);
                assertThat(Sampler.sample(l, 0, 5, params(1, 0, 0.5f, 0, null, 0), r, null, null, new int[0]).token()).isEqualTo(0);
                // probabilities ∝ e^5, e^4, e^3, ...: min_p 0.3 keeps e^4/e^5 = 0.37 but drops e^3/e^5 = 0.14
                assertThat(Sampler.sample(l, 0, 5, params(1, 0, 1, 0.3f, null, 0), r, null, null, new int[0]).token()).isIn(0, 1);
            }
        }
    }

    @Test
    void aSeedReproducesTheSameTokens() {
        float[] l = logits(3, 100);
        for (long seed : Seeds.both()) {
            SplittableRandom a = new SplittableRandom(seed);
            SplittableRandom b = new SplittableRandom(seed);
            for (int i = 0; i < 200; i++) {
                assertThat(Sampler.sample(l, 0, 100, params(1.2f, 40, 0.9f, 0, seed, 0), a, null, null, new int[0]).token())
                        .isEqualTo(Sampler.sample(l, 0, 100, params(1.2f, 40, 0.9f, 0, seed, 0), b, null, null, new int[0]).token());
            }
        }
    }

    @Test
    void penaltiesAndSuppressionChangeTheChoice() {
        float[] l = {3f, 2.9f, 0f};
        SamplingParams rep = new SamplingParams(0, 0, 1, 0, 1.5f, 0, 0, null, 0, List.of(), 16, 0, false);
        boolean[] seen = {true, false, false};
        assertThat(Sampler.sample(l, 0, 3, rep, new SplittableRandom(1), new int[3], seen, new int[0]).token()).isEqualTo(1);
        SamplingParams freq = new SamplingParams(0, 0, 1, 0, 1, 0, 0.2f, null, 0, List.of(), 16, 0, false);
        assertThat(Sampler.sample(l, 0, 3, freq, new SplittableRandom(1), new int[] {1, 0, 0}, new boolean[3], new int[0]).token()).isEqualTo(1);
        assertThat(Sampler.sample(l, 0, 3, SamplingParams.greedy(4), new SplittableRandom(1), null, null, new int[] {0}).token()).isEqualTo(1);
    }

    @Test
    void invalidValuesAreRejectedByName() {
        assertThatThrownBy(() -> params(-1, 0, 1, 0, null, 0)).hasMessageContaining("temperature");
        assertThatThrownBy(() -> params(1, -1, 1, 0, null, 0)).hasMessageContaining("top_k");
        assertThatThrownBy(() -> params(1, 0, 0, 0, null, 0)).hasMessageContaining("top_p");
        assertThatThrownBy(() -> params(1, 0, 1, 2, null, 0)).hasMessageContaining("min_p");
        assertThatThrownBy(() -> params(1, 0, 1, 0, null, 21)).hasMessageContaining("logprobs");
        assertThatThrownBy(() -> new SamplingParams(0, 0, 1, 0, 1, 0, 0, null, 0, List.of(), 4, 5, false)).hasMessageContaining("min_new_tokens");
        assertThatThrownBy(() -> params(Float.NaN, 0, 1, 0, null, 0)).hasMessageContaining("temperature");
    }

    @Test
    void samplingFromTheTopCandidatesEqualsSamplingFromTheWholeRow() {
        java.util.Random rnd = new java.util.Random(3);
        int covered = 0;
        int fallbacks = 0;
        for (int trial = 0; trial < 2000; trial++) {
            int vocab = 50 + rnd.nextInt(400);
            float[] row = new float[vocab];
            for (int i = 0; i < vocab; i++) {
                // coarse values make ties, which both paths must break by the lowest id
                row[i] = rnd.nextInt(4) == 0 ? Math.round(rnd.nextGaussian() * 4) / 2f : (float) (rnd.nextGaussian() * 3);
            }
            boolean greedy = rnd.nextInt(4) == 0;
            boolean topPOnly = !greedy && rnd.nextInt(3) == 0;
            int topK = greedy || topPOnly ? 0 : 1 + rnd.nextInt(Math.min(64, vocab - 1));
            float topP = topPOnly || rnd.nextBoolean() ? 0.05f + 0.9f * rnd.nextFloat() : 1;
            float minP = rnd.nextBoolean() ? 0 : rnd.nextFloat() * 0.3f;
            float temperature = greedy ? 0 : 0.1f + 2 * rnd.nextFloat();
            int logprobs = rnd.nextInt(6);
            SamplingParams p = new SamplingParams(temperature, topK, topP, minP, 1, 0, 0, 9L, logprobs, List.of(), 10, 0, true);
            long seed = rnd.nextLong();
            Sampler.Sample whole = Sampler.sample(row, 0, vocab, p, new SplittableRandom(seed), new int[vocab], new boolean[vocab], new int[0]);
            int k = topPOnly ? 64 : Math.max(Math.max(topK, logprobs), 1);
            var c = RowReduction.candidates(row, Math.min(k, vocab), temperature);
            SplittableRandom stream = new SplittableRandom(seed);
            Sampler.Sample reduced = Sampler.fromCandidates(c.ids(), c.logits(), c.max(), c.logSumExp(), c.sumAtTemperature(), p, stream);
            if (reduced == null) { // top-p beyond the 64 best: the stream is untouched, the whole row decides
                assertThat(topPOnly).isTrue();
                fallbacks++;
                reduced = Sampler.sample(row, 0, vocab, p, stream, new int[vocab], new boolean[vocab], new int[0]);
            } else if (topPOnly) {
                covered++;
            }
            assertThat(reduced.token()).as("trial %d", trial).isEqualTo(whole.token());
            assertThat(reduced.logprob()).as("trial %d", trial).isEqualTo(whole.logprob());
            assertThat(reduced.topIds()).as("trial %d", trial).isEqualTo(whole.topIds());
            assertThat(reduced.topLogprobs()).as("trial %d", trial).isEqualTo(whole.topLogprobs());
        }
        // both ways of top-p alone happened
        assertThat(covered).isGreaterThan(10);
        assertThat(fallbacks).isGreaterThan(10);
    }
}
