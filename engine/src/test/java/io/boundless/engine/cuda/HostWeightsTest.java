package io.boundless.engine.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.boundless.engine.tensor.DType;
import io.boundless.engine.tensor.Halfs;
import io.boundless.engine.tensor.Quant;
import io.boundless.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** What the device receives for each stored type and precision, checked value by value on random matrices. */
class HostWeightsTest {
    static Tensor tensor(DType type, int rows, int cols, long seed, Arena arena) {
        Random rnd = new Random(seed);
        float[] v = new float[rows * cols];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) rnd.nextGaussian();
        }
        MemorySegment seg = arena.allocate(type.byteSize((long) rows * cols), 16);
        switch (type) {
            case F32 -> MemorySegment.copy(v, 0, seg, HostWeights.F32, 0, v.length);
            case F16 -> {
                for (int i = 0; i < v.length; i++) {
                    seg.set(HostWeights.I16, 2L * i, Float.floatToFloat16(v[i]));
                }
            }
            case BF16 -> {
                for (int i = 0; i < v.length; i++) {
                    seg.set(HostWeights.I16, 2L * i, Halfs.floatToBf16(v[i]));
                }
            }
            case Q8_0, Q4_0 -> Quant.quantize(type, v, seg);
        }
        return new Tensor("t" + seed, type, new long[] {rows, cols}, seg);
    }

    @Test
    void everyStoredTypeBecomesItsDeviceTypeWithTheSameValues() {
        try (Arena arena = Arena.ofConfined()) {
            for (Precision precision : Precision.values()) {
                for (DType type : DType.values()) {
                    Tensor t = tensor(type, 7, 64, type.ordinal(), arena);
                    WeightType target = HostWeights.target(type, precision);
                    HostWeights.Prepared p = HostWeights.prepare(target, arena, t);
                    assertThat(p.rows()).isEqualTo(7);
                    for (int r = 0; r < 7; r++) {
                        for (int c = 0; c < 64; c++) {
                            float src = t.getFloat(r * 64L + c);
                            float expected = switch (target) {
                                case F32, Q8 -> src; // exact: float32, or Q8_0's own int8 values and scale
                                case BF16 -> Halfs.bf16ToFloat(Halfs.floatToBf16(src));
                                case F16 -> Float.float16ToFloat(Float.floatToFloat16(src));
                            };
                            assertThat(HostWeights.get(p, r, c)).as("%s %s -> %s at %d,%d", precision, type, target, r, c).isEqualTo(expected);
                        }
                    }
                }
            }
        }
    }

    @Test
    void theTargetsAreTheDocumentedOnes() {
        assertThat(HostWeights.target(DType.BF16, Precision.NATIVE)).isEqualTo(WeightType.BF16);
        assertThat(HostWeights.target(DType.F32, Precision.NATIVE)).isEqualTo(WeightType.BF16);
        assertThat(HostWeights.target(DType.F16, Precision.NATIVE)).isEqualTo(WeightType.F16);
        assertThat(HostWeights.target(DType.Q8_0, Precision.NATIVE)).isEqualTo(WeightType.Q8);
        assertThat(HostWeights.target(DType.Q4_0, Precision.NATIVE)).isEqualTo(WeightType.BF16);
        for (DType t : DType.values()) {
            assertThat(HostWeights.target(t, Precision.F32)).isEqualTo(WeightType.F32);
        }
    }

    @Test
    void stackedMatricesKeepEachPartsRowsInOrderAndMixedTypesMeetInBf16() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = tensor(DType.Q8_0, 8, 96, 1, arena);
            Tensor k = tensor(DType.Q8_0, 4, 96, 2, arena);
            Tensor v = tensor(DType.F16, 4, 96, 3, arena);
            assertThat(HostWeights.target(Precision.NATIVE, q, k)).isEqualTo(WeightType.Q8);
            WeightType mixed = HostWeights.target(Precision.NATIVE, q, k, v);
            assertThat(mixed).isEqualTo(WeightType.BF16);
            HostWeights.Prepared p = HostWeights.prepare(WeightType.Q8, arena, q, k);
            assertThat(p.rows()).isEqualTo(12);
            for (int c = 0; c < 96; c++) {
                assertThat(HostWeights.get(p, 3, c)).isEqualTo(q.getFloat(3 * 96L + c));
                assertThat(HostWeights.get(p, 9, c)).isEqualTo(k.getFloat(1 * 96L + c));
            }
            HostWeights.Prepared all = HostWeights.prepare(mixed, arena, q, k, v);
            assertThat(HostWeights.get(all, 14, 5)).isEqualTo(Halfs.bf16ToFloat(Halfs.floatToBf16(v.getFloat(2 * 96L + 5))));
            // slices (uploads go a slice at a time) equal the whole
            HostWeights.Prepared slice = HostWeights.prepare(WeightType.Q8, q, 5, 8, arena);
            assertThat(HostWeights.get(slice, 1, 40)).isEqualTo(q.getFloat(6 * 96L + 40));
            assertThatThrownBy(() -> HostWeights.prepare(WeightType.Q8, arena, v)).hasMessageContaining("only Q8_0 tensors become Q8");
            Tensor narrow = tensor(DType.F32, 2, 32, 4, arena);
            assertThatThrownBy(() -> HostWeights.prepare(WeightType.F32, arena, q, narrow)).hasMessageContaining("cannot stack");
        }
    }

    @Test
    void biasesConcatenateWithZerosForAMissingPart() {
        assertThat(HostWeights.concat(new float[][] {null, null}, new int[] {2, 3})).isNull();
        assertThat(HostWeights.concat(new float[][] {{1, 2}, null, {3}}, new int[] {2, 2, 1})).containsExactly(1, 2, 0, 0, 3);
    }
}
