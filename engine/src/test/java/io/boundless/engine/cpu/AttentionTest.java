package io.boundless.engine.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import io.boundless.engine.kv.KvCache;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.ParameterizedTest;

/**
 * Paged attention against a float64 reference over the sequence's keys and values in position order. The test
 * places position p at slot table[p / blockSize] * blockSize + p % blockSize itself (the paging the cache is
 * meant to have), and fills every other slot with large values, so a wrong slot mapping shows in the output;
 * the reference never asks the cache where anything is.
 */
class AttentionTest {

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("io.boundless.engine.Seeds#fixedAndRandom")
    void matchesFloat64OverAPagedCache(long seed) {
        check(seed);
    }

    static void check(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int hd = 64;
        int kvHeads = 3;
        int kvDim = hd * kvHeads;
        int blockSize = 4;
        int blocks = 32;
        int[] table = {17, 3, 29, 8, 0, 12, 25, 6}; // non-contiguous blocks: up to 32 positions
        KvCache cache = new KvCache(1, kvDim, blockSize, blocks);
        float[] junk = new float[kvDim];
        java.util.Arrays.fill(junk, 1000f);
        for (int slot = 0; slot < blocks * blockSize; slot++) {
            cache.put(0, slot, junk, 0, junk, 0);
        }
        int positions = table.length * blockSize;
        float[][] keys = new float[positions][kvDim]; // [position][kvDim], in position order
        float[][] values = new float[positions][kvDim];
        for (int p = 0; p < positions; p++) {
            for (int i = 0; i < kvDim; i++) {
                keys[p][i] = (float) rnd.nextGaussian();
                values[p][i] = (float) rnd.nextGaussian();
            }
            cache.put(0, table[p / blockSize] * blockSize + p % blockSize, keys[p], 0, values[p], 0);
        }
        float[] q = new float[hd];
        for (int i = 0; i < hd; i++) {
            q[i] = (float) (rnd.nextGaussian() * 2);
        }
        for (int[] range : new int[][] {{0, 0}, {0, 30}, {9, 30}, {5, 6}, {0, positions - 1}}) {
            int first = range[0];
            int last = range[1];
            int kvHead = rnd.nextInt(kvHeads);
            float[] out = new float[hd];
            Attention.head(q, 0, cache.keys(0), cache.values(0), cache, table, first, last, kvHead, hd, kvDim, new float[64], out, 0);
            double[] weights = new double[last - first + 1];
            double max = Double.NEGATIVE_INFINITY;
            for (int p = first; p <= last; p++) {
                double s = 0;
                for (int d = 0; d < hd; d++) {
                    s += (double) q[d] * keys[p][kvHead * hd + d];
                }
                weights[p - first] = s / Math.sqrt(hd);
                max = Math.max(max, weights[p - first]);
            }
            double sum = 0;
            for (int i = 0; i < weights.length; i++) {
                weights[i] = Math.exp(weights[i] - max);
                sum += weights[i];
            }
            for (int d = 0; d < hd; d++) {
                double ref = 0;
                for (int p = first; p <= last; p++) {
                    ref += weights[p - first] / sum * values[p][kvHead * hd + d];
                }
                assertThat((double) out[d]).as("seed %d, positions %d..%d, dim %d", seed, first, last, d)
                        .isCloseTo(ref, org.assertj.core.data.Offset.offset(1e-5 * (1 + Math.abs(ref))));
            }
        }
    }
}
