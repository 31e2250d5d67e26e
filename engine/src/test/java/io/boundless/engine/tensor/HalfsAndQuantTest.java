package io.boundless.engine.tensor;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.ParameterizedTest;

/** bf16 rounding and the GGML block quantizers, against float64 references on fresh random data. */
class HalfsAndQuantTest {

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("io.boundless.engine.Seeds#fixedAndRandom")
    void bf16RoundsToNearestEven(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int i = 0; i < 200_000; i++) {
            float f = Float.intBitsToFloat(rnd.nextInt());
            if (Float.isNaN(f)) {
                assertThat(Float.isNaN(Halfs.bf16ToFloat(Halfs.floatToBf16(f)))).isTrue();
                continue;
            }
            int bits = Float.floatToRawIntBits(f);
            float down = Float.intBitsToFloat(bits & 0xFFFF0000);
            float up = Float.intBitsToFloat((bits & 0xFFFF0000) + 0x10000);
            // Past the largest finite bf16 the next value up is 2^128, which rounds to infinity.
            double upValue = Float.isInfinite(up) ? Math.copySign(Math.scalb(1.0, 128), f) : up;
            double dd = Math.abs((double) f - down);
            double du = Math.abs(upValue - f);
            float got = Halfs.bf16ToFloat(Halfs.floatToBf16(f));
            float expected = dd < du ? down : du < dd ? up : ((bits >>> 16) & 1) == 0 ? down : up;
            assertThat(got).as("seed %d, %s (%08x)", seed, f, bits).isEqualTo(expected);
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("io.boundless.engine.Seeds#fixedAndRandom")
    void q8AndQ4ReconstructWithinTheirScale(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int n = 32 * 512;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            double scale = Math.exp(rnd.nextDouble(-6, 3)); // blocks of very different magnitudes
            x[i] = (float) (rnd.nextGaussian() * scale);
        }
        try (Arena arena = Arena.ofConfined()) {
            for (DType t : new DType[] {DType.Q8_0, DType.Q4_0}) {
                MemorySegment q = arena.allocate(t.byteSize(n));
                Quant.quantize(t, x, q);
                float[] back = new Tensor("t", t, new long[] {n}, q).toFloatArray();
                for (int b = 0; b < n / 32; b++) {
                    double amax = 0;
                    for (int j = 0; j < 32; j++) {
                        amax = Math.max(amax, Math.abs((double) x[b * 32 + j]));
                    }
                    // Q8_0: d = amax/127, error <= d/2 plus the f16 rounding of d over |q| <= 127.
                    // Q4_0: d = max/-8, error <= |d| (the far end clips from 8 to 7 steps), plus f16 rounding.
                    double d = t == DType.Q8_0 ? amax / 127 : amax / 8;
                    double bound = (t == DType.Q8_0 ? 0.5 * d + 127 * d / 1024 : d + 8 * d / 1024) + 1e-30;
                    for (int j = 0; j < 32; j++) {
                        int i = b * 32 + j;
                        assertThat(Math.abs((double) back[i] - x[i])).as("seed %d, %s element %d", seed, t, i).isLessThanOrEqualTo(bound);
                    }
                }
            }
        }
    }

    /** A block worked by hand from llama.cpp's quantize_row_q4_0_ref: x[j] = j - 16. */
    @Test
    void q4BlockLayoutIsGgmls() {
        float[] x = new float[32];
        for (int j = 0; j < 32; j++) {
            x[j] = j - 16;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment q = arena.allocate(18);
            Quant.quantize(DType.Q4_0, x, q);
            // amax 16 at x[0] = -16, so d = -16 / -8 = 2 (f16 0x4000), id = 0.5
            assertThat(q.get(ValueLayout.JAVA_SHORT_UNALIGNED, 0)).isEqualTo((short) 0x4000);
            for (int j = 0; j < 16; j++) {
                int lo = (int) ((j - 16) * 0.5f + 8.5f);
                int hi = Math.min(15, (int) (j * 0.5f + 8.5f));
                assertThat(q.get(ValueLayout.JAVA_BYTE, 2 + j) & 0xFF).as("byte %d", j).isEqualTo(lo | (hi << 4));
            }
        }
    }

    @Test
    void q8RoundsHalvesAwayFromZeroLikeC() {
        assertThat(Quant.roundf(2.5f)).isEqualTo(3);
        assertThat(Quant.roundf(-2.5f)).isEqualTo(-3);
        assertThat(Quant.roundf(-2.4f)).isEqualTo(-2);
        assertThat(Quant.roundf(0.49999997f)).isZero();
    }
}
