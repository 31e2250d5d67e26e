package io.boundless.engine.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import io.boundless.engine.tensor.DType;
import io.boundless.engine.tensor.Halfs;
import io.boundless.engine.tensor.Quant;
import io.boundless.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Every CPU kernel against a scalar float64 reference, on a fixed seed's inputs and a random one's (the seed is in each message). */
@org.junit.jupiter.params.ParameterizedClass(name = "seed {0}")
@org.junit.jupiter.params.provider.MethodSource("io.boundless.engine.Seeds#fixedAndRandom")
class KernelsTest {
    private static final Parallel PARALLEL = new Parallel(3);
    private final long seed;
    private final SplittableRandom rnd;

    KernelsTest(long seed) {
        this.seed = seed;
        this.rnd = new SplittableRandom(seed);
    }

    @AfterAll
    static void stop() {
        PARALLEL.close();
    }

    private float[] randn(int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        return x;
    }

    /** A weight tensor in dtype from values w; returns the values the tensor really holds (after rounding). */
    private static Tensor weight(Arena arena, DType dt, float[] w, int rows, int cols) {
        MemorySegment seg = arena.allocate(dt.byteSize((long) rows * cols), 8);
        ValueLayout.OfShort i16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        switch (dt) {
            case F32 -> MemorySegment.copy(w, 0, seg, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, w.length);
            case F16 -> {
                for (int i = 0; i < w.length; i++) {
                    seg.set(i16, 2L * i, Float.floatToFloat16(w[i]));
                }
            }
            case BF16 -> {
                for (int i = 0; i < w.length; i++) {
                    seg.set(i16, 2L * i, Halfs.floatToBf16(w[i]));
                }
            }
            case Q8_0, Q4_0 -> Quant.quantize(dt, w, seg);
        }
        return new Tensor("w", dt, new long[] {rows, cols}, seg);
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void matmulMatchesFloat64OnTheStoredWeights(DType dt) {
        int rows = 67;
        int cols = 32 * 9; // not a multiple of every vector width, but whole quant blocks
        int batch = 5;
        try (Arena arena = Arena.ofShared()) { // the matmul's worker threads read it
            Tensor w = weight(arena, dt, randn(rows * cols), rows, cols);
            float[] stored = w.toFloatArray(); // the reference uses exactly what the tensor holds
            float[] x = randn(batch * cols);
            float[] out = new float[batch * rows];
            new MatMul(PARALLEL).matmul(w, x, out, batch);
            for (int b = 0; b < batch; b++) {
                for (int r = 0; r < rows; r++) {
                    double ref = 0;
                    double mag = 0;
                    for (int c = 0; c < cols; c++) {
                        ref += (double) stored[r * cols + c] * x[b * cols + c];
                        mag += Math.abs((double) stored[r * cols + c] * x[b * cols + c]);
                    }
                    // float32 accumulation: error grows with the sum of magnitudes, not with the result;
                    // block-quantized weights also quantize the activations to 8 bits (as llama.cpp does),
                    // which costs up to half a step of each block's scale per element
                    double bound = dt == DType.Q8_0 || dt == DType.Q4_0 ? 1e-2 * mag + 1e-6 : 1e-5 * mag + 1e-6;
                    assertThat(Math.abs(out[b * rows + r] - ref)).as("seed %d, %s, batch %d row %d", seed, dt, b, r)
                            .isLessThanOrEqualTo(bound);
                }
            }
        }
    }

    /** Logits must not depend on what else is in the batch: every batch row equals the same vector alone, bit for bit. */
    @ParameterizedTest
    @EnumSource(DType.class)
    void matmulRowsDoNotDependOnTheBatch(DType dt) {
        // odd rows, odd batch and an odd number of blocks exercise the 2 × 2 tiles' edges; float types
        // also get an odd number of vector chunks and a scalar tail
        int rows = 41;
        int batch = 7;
        // float types: also a row length of whole vector pairs, where decode takes its two-row path
        for (int cols : dt.blockSize > 1 ? new int[] {32 * 7} : new int[] {32 * 7 + 13, 32 * 8}) {
            rowsDoNotDependOnTheBatch(dt, rows, cols, batch);
        }
    }

    private void rowsDoNotDependOnTheBatch(DType dt, int rows, int cols, int batch) {
        try (Arena arena = Arena.ofShared()) {
            Tensor w = weight(arena, dt, randn(rows * cols), rows, cols);
            float[] x = randn(batch * cols);
            float[] all = new float[batch * rows];
            MatMul mm = new MatMul(PARALLEL);
            mm.matmul(w, x, all, batch);
            for (int b = 0; b < batch; b++) {
                float[] one = new float[rows];
                mm.matvec(w, java.util.Arrays.copyOfRange(x, b * cols, (b + 1) * cols), one);
                assertThat(java.util.Arrays.copyOfRange(all, b * rows, (b + 1) * rows)).as("seed %d, %s, %d columns, batch row %d", seed, dt, cols, b)
                        .isEqualTo(one);
            }
        }
    }

    /** Several matrices in one call (Q, K, V) give exactly what one call per matrix gives. */
    @ParameterizedTest
    @EnumSource(DType.class)
    void fusedMatmulEqualsOneCallPerMatrix(DType dt) {
        int cols = 32 * 4;
        int batch = 3;
        try (Arena arena = Arena.ofShared()) {
            Tensor[] ws = {weight(arena, dt, randn(48 * cols), 48, cols), weight(arena, dt, randn(16 * cols), 16, cols),
                    weight(arena, dt, randn(17 * cols), 17, cols)};
            float[] x = randn(batch * cols);
            float[][] fused = {new float[batch * 48], new float[batch * 16], new float[batch * 17]};
            MatMul mm = new MatMul(PARALLEL);
            mm.matmul(ws, x, fused, batch);
            for (int i = 0; i < ws.length; i++) {
                float[] alone = new float[fused[i].length];
                mm.matmul(ws[i], x, alone, batch);
                assertThat(fused[i]).as("seed %d, %s, matrix %d", seed, dt, i).isEqualTo(alone);
            }
        }
    }

    @Test
    void rmsNormMatchesFloat64() {
        int n = 515;
        float[] x = randn(n);
        float[] w = randn(n);
        float[] out = new float[n];
        Ops.rmsNorm(x, 0, w, 1e-5f, out, 0, n);
        double ss = 0;
        for (float v : x) {
            ss += (double) v * v;
        }
        double scale = 1 / Math.sqrt(ss / n + 1e-5);
        for (int i = 0; i < n; i++) {
            assertThat((double) out[i]).as("seed %d, %d", seed, i).isCloseTo(x[i] * scale * w[i], org.assertj.core.data.Offset.offset(1e-5 * (1 + Math.abs(x[i] * scale * w[i]))));
        }
    }

    @Test
    void layerNormMatchesFloat64() {
        int n = 301;
        float[] x = randn(n);
        for (int i = 0; i < n; i++) {
            x[i] += 3; // an offset mean, where a naive one-pass variance loses precision
        }
        float[] w = randn(n);
        float[] b = randn(n);
        float[] out = new float[n];
        Ops.layerNorm(x, 0, w, b, 1e-5f, out, 0, n);
        double mean = 0;
        for (float v : x) {
            mean += v;
        }
        mean /= n;
        double var = 0;
        for (float v : x) {
            var += (v - mean) * (v - mean);
        }
        var /= n;
        for (int i = 0; i < n; i++) {
            double ref = (x[i] - mean) / Math.sqrt(var + 1e-5) * w[i] + b[i];
            assertThat((double) out[i]).as("seed %d, %d", seed, i).isCloseTo(ref, org.assertj.core.data.Offset.offset(1e-5 * (1 + Math.abs(ref))));
        }
    }

    @Test
    void softmaxMatchesFloat64EvenForLargeLogits() {
        float[] x = randn(1000);
        for (int i = 0; i < x.length; i++) {
            x[i] *= 40; // exp would overflow without the max shift
        }
        float[] y = x.clone();
        Ops.softmax(y, 0, y.length);
        double max = Double.NEGATIVE_INFINITY;
        for (float v : x) {
            max = Math.max(max, v);
        }
        double sum = 0;
        for (float v : x) {
            sum += Math.exp(v - max);
        }
        double total = 0;
        for (int i = 0; i < x.length; i++) {
            double ref = Math.exp(x[i] - max) / sum;
            assertThat((double) y[i]).as("seed %d, %d", seed, i).isCloseTo(ref, org.assertj.core.data.Offset.offset(1e-6 + 1e-5 * ref));
            total += y[i];
        }
        assertThat(total).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-4));
    }

    @Test
    void activationsMatchFloat64() {
        int n = 999;
        float[] g = randn(n);
        float[] u = randn(n);
        float[] sw = g.clone();
        Ops.swiglu(sw, u, n);
        float[] ge = g.clone();
        Ops.gelu(ge, n);
        for (int i = 0; i < n; i++) {
            double silu = g[i] / (1 + Math.exp(-g[i]));
            assertThat((double) sw[i]).as("seed %d", seed).isCloseTo(silu * u[i], org.assertj.core.data.Offset.offset(1e-5 * (1 + Math.abs(silu * u[i]))));
            double gel = 0.5 * g[i] * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (g[i] + 0.044715 * Math.pow(g[i], 3))));
            assertThat((double) ge[i]).as("seed %d", seed).isCloseTo(gel, org.assertj.core.data.Offset.offset(1e-5 * (1 + Math.abs(gel))));
        }
    }

    @ParameterizedTest
    @EnumSource(Rope.Layout.class)
    void ropeMatchesFloat64AndLayoutsAgreeAfterPermutation(Rope.Layout layout) {
        int heads = 3;
        int headDim = 64;
        int pos = 1 + rnd.nextInt(5000);
        float[] inv = Rope.inverseFrequencies(headDim, 500000, new Rope.Llama3Scaling(32, 1, 4, 8192));
        float[] x = randn(heads * headDim);
        float[] y = x.clone();
        Rope.apply(y, 0, heads, headDim, pos, inv, layout);
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < headDim / 2; i++) {
                int a = h * headDim + (layout == Rope.Layout.ROTATE_HALF ? i : 2 * i);
                int b = h * headDim + (layout == Rope.Layout.ROTATE_HALF ? i + headDim / 2 : 2 * i + 1);
                double ang = pos * (double) inv[i];
                double ra = x[a] * Math.cos(ang) - x[b] * Math.sin(ang);
                double rb = x[a] * Math.sin(ang) + x[b] * Math.cos(ang);
                assertThat((double) y[a]).as("seed %d", seed).isCloseTo(ra, org.assertj.core.data.Offset.offset(1e-5));
                assertThat((double) y[b]).as("seed %d", seed).isCloseTo(rb, org.assertj.core.data.Offset.offset(1e-5));
            }
        }
        // The GGUF permutation maps rotate-half dimension order to adjacent pairs: (i, i+d/2) -> (2i, 2i+1).
        float[] half = x.clone();
        float[] adj = new float[x.length];
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < headDim / 2; i++) {
                adj[h * headDim + 2 * i] = x[h * headDim + i];
                adj[h * headDim + 2 * i + 1] = x[h * headDim + i + headDim / 2];
            }
        }
        Rope.apply(half, 0, heads, headDim, pos, inv, Rope.Layout.ROTATE_HALF);
        Rope.apply(adj, 0, heads, headDim, pos, inv, Rope.Layout.ADJACENT);
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < headDim / 2; i++) {
                assertThat(adj[h * headDim + 2 * i]).isEqualTo(half[h * headDim + i]);
                assertThat(adj[h * headDim + 2 * i + 1]).isEqualTo(half[h * headDim + i + headDim / 2]);
            }
        }
    }

    @Test
    void llama3ScalingFollowsTheHuggingFaceFormula() {
        float[] plain = Rope.inverseFrequencies(128, 500000, null);
        float[] scaled = Rope.inverseFrequencies(128, 500000, new Rope.Llama3Scaling(8, 1, 4, 8192));
        for (int i = 0; i < plain.length; i++) {
            double f = 1 / Math.pow(500000, 2.0 * i / 128);
            double wavelen = 2 * Math.PI / f;
            double expected;
            if (wavelen < 8192 / 4.0) {
                expected = f;
            } else if (wavelen > 8192 / 1.0) {
                expected = f / 8;
            } else {
                double smooth = (8192 / wavelen - 1) / (4 - 1);
                expected = (1 - smooth) * f / 8 + smooth * f;
            }
            assertThat((double) scaled[i]).as("i %d", i).isCloseTo(expected, org.assertj.core.data.Offset.offset(1e-7 * f + 1e-12));
            assertThat((double) plain[i]).isCloseTo(f, org.assertj.core.data.Offset.offset(1e-7 * f));
        }
    }
}
