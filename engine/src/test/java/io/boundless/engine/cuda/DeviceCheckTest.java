package io.boundless.engine.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import io.boundless.engine.backend.CpuBackend;
import io.boundless.engine.model.LoadedModel;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The device check's harness, run here with the CPU standing in for the device: the comparisons it
 * prints pass when the backends agree and fail when they do not. (On a GPU the same code compares
 * the CUDA backend.)
 */
class DeviceCheckTest {

    @Test
    void parityPassesForAgreeingBackendsAndFailsForAWrongOne() throws Exception {
        Path dir = Files.createTempDirectory("device-check");
        DeviceCheck.tiny(dir);
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try (LoadedModel m = LoadedModel.open(dir)) {
            int vocab = m.config().vocabSize();
            int[] prompt = DeviceCheck.randomIds(20, vocab, 5);
            DeviceCheck.Factory cpu = (model, rows, running, graphs) -> new CpuBackend(model.weights(), 1, 16, 64L << 20);
            System.setOut(new PrintStream(buf, true));
            assertThat(DeviceCheck.parity("tiny", m, prompt, null, cpu, cpu, DeviceCheck.DEVICE)).isZero();
            // a reference that is off by 5% fails the f32 bounds but passes the native one
            float[] ref;
            try (CpuBackend b = new CpuBackend(m.weights(), 1, 16, 64L << 20)) {
                ref = DeviceCheck.logitsOfPrompt(b, prompt, vocab);
            }
            for (int i = 0; i < ref.length; i += 2) {
                ref[i] *= 1.01f;
            }
            int failures = DeviceCheck.parity("tiny-ref", m, prompt, ref, cpu, cpu, DeviceCheck.DEVICE);
            assertThat(failures).isEqualTo(2); // cpu vs reference and cuda-f32 vs reference
        } finally {
            System.setOut(old);
        }
        String out = buf.toString();
        assertThat(out).contains("RESULT\ttiny: cuda-f32 vs cpu logits\t0\trel-L2\tPASS", "RESULT\ttiny: greedy tokens cuda-f32 = cpu\t32\ttokens\tPASS",
                "RESULT\ttiny: batched greedy tokens cuda-f32 = cpu\t96\ttokens\tPASS", "tiny-ref: cpu vs reference logits", "tiny-ref: cuda-native vs reference logits");
        assertThat(out.lines().filter(l -> l.startsWith("RESULT\ttiny-ref:") && l.contains("reference") && l.contains("\tFAIL\t"))).hasSize(2);
    }

    /** One bad position among many fails, though the error pooled over all positions would pass. */
    @Test
    void theWorstPositionDecides() {
        int vocab = 50;
        int rows = 400;
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(3);
        float[] b = new float[vocab * rows];
        for (int i = 0; i < b.length; i++) {
            b[i] = (float) rnd.nextGaussian();
        }
        float[] a = b.clone();
        for (int i = 0; i < vocab; i++) {
            a[7 * vocab + i] *= 1.001f; // 1e-3 in one row: 5e-5 pooled over 400
        }
        assertThat(DeviceCheck.relError(a, b)).isLessThan(1e-4);
        assertThat(DeviceCheck.worstRowError(a, b, vocab)).isCloseTo(1e-3, org.assertj.core.data.Offset.offset(1e-5));
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true));
        try {
            assertThat(DeviceCheck.logits("one row", a, b, vocab, 1e-4)).isEqualTo(1);
            assertThat(DeviceCheck.logits("same", b.clone(), b, vocab, 1e-5)).isZero();
            // a near tie (top two 1e-7 apart) may go either way within the bound; a decisive row may not
            float[] tie = new float[] {1, 1.0000001f, 0, 0};
            float[] swapped = new float[] {1.0000001f, 1, 0, 0};
            assertThat(DeviceCheck.logits("near tie", swapped, tie, 4, 1e-6)).isZero();
            float[] decisive = new float[] {1, 2, 0, 0};
            float[] other = new float[] {2, 1, 0, 0};
            assertThat(DeviceCheck.logits("decisive", other, decisive, 4, 0.1)).isEqualTo(1);
        } finally {
            System.setOut(old);
        }
        assertThat(buf.toString()).contains("different in decisive positions [0]", "near tie\t", "in all 0 decisive ones");
    }

    @Test
    void relativeErrorIsTheL2NormRatioAndNanFails() {
        assertThat(DeviceCheck.relError(new float[] {3, 4}, new float[] {0, 0.0001f})).isGreaterThan(1);
        assertThat(DeviceCheck.relError(new float[] {1, 2}, new float[] {1, 2})).isZero();
        assertThat(DeviceCheck.relError(new float[] {1.1f, 2}, new float[] {1, 2})).isCloseTo(0.1 / Math.sqrt(5), org.assertj.core.data.Offset.offset(1e-6));
        double nan = DeviceCheck.relError(new float[] {Float.NaN, 2}, new float[] {1, 2});
        assertThat(nan <= DeviceCheck.NATIVE_VS_REF).isFalse();
        assertThat(DeviceCheck.worstRowError(new float[] {1, 2, Float.NaN, 2}, new float[] {1, 2, 1, 2}, 2) <= 1).isFalse();
    }
}
