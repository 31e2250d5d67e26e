package io.boundless.engine.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import io.boundless.engine.kv.KvCache;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Paged attention against a float64 reference over keys and values gathered through a scattered block table. */
class AttentionTest {

    @Test
    void matchesFloat64OverAPagedCache() {
        long seed = new Random().nextLong();
        SplittableRandom rnd = new SplittableRandom(seed);
        int hd = 64;
        int kvHeads = 3;
        int kvDim = hd * kvHeads;
        int blockSize = 4;
        KvCache cache = new KvCache(1, kvDim, blockSize, 32);
        float[] keys = new float[32 * blockSize * kvDim];
        float[] values = new float[keys.length];
        for (int i = 0; i < keys.length; i++) {
            keys[i] = (float) rnd.nextGaussian();
            values[i] = (float) rnd.nextGaussian();
        }
        for (int slot = 0; slot < 32 * blockSize; slot++) {
            cache.put(0, slot, keys, slot * kvDim, values, slot * kvDim);
        }
        int[] table = {17, 3, 29, 8, 0, 12, 25, 6}; // non-contiguous blocks: up to 32 positions
        float[] q = new float[hd];
        for (int i = 0; i < hd; i++) {
            q[i] = (float) (rnd.nextGaussian() * 2);
        }
        for (int[] range : new int[][] {{0, 0}, {0, 30}, {9, 30}, {5, 6}}) {
            int first = range[0];
            int last = range[1];
            int kvHead = rnd.nextInt(kvHeads);
            float[] out = new float[hd];
            Attention.head(q, 0, cache.keys(0), cache.values(0), cache, table, first, last, kvHead, hd, kvDim, new float[64], out, 0);
            double[] scores = new double[last - first + 1];
            double max = Double.NEGATIVE_INFINITY;
            for (int p = first; p <= last; p++) {
                int off = cache.slot(table, p) * kvDim + kvHead * hd;
                double s = 0;
                for (int d = 0; d < hd; d++) {
                    s += (double) q[d] * keys[off + d];
                }
                scores[p - first] = s / Math.sqrt(hd);
                max = Math.max(max, scores[p - first]);
            }
            double sum = 0;
            for (int i = 0; i < scores.length; i++) {
                scores[i] = Math.exp(scores[i] - max);
                sum += scores[i];
            }
            for (int d = 0; d < hd; d++) {
                double ref = 0;
                for (int p = first; p <= last; p++) {
                    ref += scores[p - first] / sum * values[cache.slot(table, p) * kvDim + kvHead * hd + d];
                }
                assertThat((double) out[d]).as("seed %d, positions %d..%d, dim %d", seed, first, last, d)
                        .isCloseTo(ref, org.assertj.core.data.Offset.offset(1e-5 * (1 + Math.abs(ref))));
            }
        }
    }
}
