package io.boundless.engine.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.boundless.engine.Seeds;
import io.boundless.engine.cpu.Parallel;
import io.boundless.engine.format.Json;
import io.boundless.engine.format.SafeTensors;
import io.boundless.engine.kv.KvCache;
import io.boundless.engine.model.Architecture;
import io.boundless.engine.model.LoadedModel;
import io.boundless.engine.model.ModelConfig;
import io.boundless.engine.model.ModelWriter;
import io.boundless.engine.model.Transformer;
import io.boundless.engine.ref.TransformersReference;
import io.boundless.engine.tensor.DType;
import io.boundless.engine.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The whole training graph: the same loss as the serving engine on the same weights, the same
 * gradients as torch autograd on the same weights and batch, the frozen-weights hooks of knowledge
 * editing, and determinism.
 */
class TrainModelTest {
    private static final Parallel PARALLEL = new Parallel(2);

    @AfterAll
    static void close() {
        PARALLEL.close();
    }

    /** Small models of each architecture training supports: GQA + tied, untied with q/k/v biases, GPT-2. */
    static List<ModelConfig> configs() {
        return List.of(
                new ModelConfig(Architecture.LLAMA, 97, 32, 80, 2, 4, 2, 8, 1e-5f, 10000, null, 128, true, false, 0, 1, List.of(2)),
                new ModelConfig(Architecture.QWEN2, 97, 32, 48, 2, 4, 1, 8, 1e-6f, 1000000, null, 128, false, true, 0, null, List.of(2)),
                new ModelConfig(Architecture.GPT2, 97, 32, 128, 2, 4, 4, 8, 1e-5f, 0, null, 64, true, true, 0, 1, List.of(2)));
    }

    private static Path write(Path dir, ModelConfig c, long seed) throws Exception {
        Path d = dir.resolve(c.arch().name().toLowerCase() + "-" + seed);
        ModelWriter.writeHuggingFace(d, c, small(ModelWriter.randomWeights(c, seed)), DType.F32);
        return d;
    }

    /** The writer's weights at a third of their scale, so that logits are not one-hot and gradients are not tiny. */
    private static List<ModelWriter.Weight> small(List<ModelWriter.Weight> w) {
        List<ModelWriter.Weight> out = new ArrayList<>();
        for (ModelWriter.Weight x : w) {
            float[] v = x.values().clone();
            boolean norm = x.hfName().contains("norm") || x.hfName().contains("ln_");
            if (!norm) {
                for (int i = 0; i < v.length; i++) {
                    v[i] /= 3;
                }
            }
            out.add(new ModelWriter.Weight(x.hfName(), x.shape(), v));
        }
        return out;
    }

    private static TrainModel.Batch batch(SplittableRandom rnd, int rows, int seq, int vocab, int[] docStart) {
        int[] tokens = new int[rows * seq];
        int[] targets = new int[rows * seq];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = rnd.nextInt(vocab);
            targets[i] = i % 5 == 3 ? -1 : rnd.nextInt(vocab);
        }
        return new TrainModel.Batch(rows, seq, tokens, targets, docStart);
    }

    @ParameterizedTest
    @MethodSource("configs")
    void trainingLossEqualsTheServingEnginesLossOnTheSameWeights(ModelConfig c, @TempDir Path dir) throws Exception {
        Path d = write(dir, c, 11);
        int seq = 12;
        int[] docStart = new int[2 * seq];
        for (int i = 5; i < seq; i++) {
            docStart[seq + i] = 5;  // row 1 holds two documents: [0, 5) and [5, 12)
        }
        TrainModel.Batch b = batch(new SplittableRandom(3), 2, seq, c.vocabSize(), docStart);
        double trainLoss = TrainModel.open(d, PARALLEL).forward(b);
        double total = 0;
        int count = 0;
        try (LoadedModel m = LoadedModel.open(d)) {
            Transformer t = new Transformer(m.weights(), PARALLEL);
            int[][] docs = {{0, seq}, {seq, seq + 5}, {seq + 5, 2 * seq}};
            for (int[] doc : docs) {
                int[] tokens = java.util.Arrays.copyOfRange(b.tokens(), doc[0], doc[1]);
                KvCache cache = new KvCache(c.layers(), c.kvDim(), 4, 8);
                float[] logits = t.forward(List.of(new Transformer.Chunk(tokens, 0, new int[] {3, 1, 0, 5}, 0, tokens.length)), cache);
                for (int j = 0; j < tokens.length; j++) {
                    int target = b.targets()[doc[0] + j];
                    if (target >= 0) {
                        total += crossEntropy(logits, j * c.vocabSize(), c.vocabSize(), target);
                        count++;
                    }
                }
            }
        }
        assertThat(trainLoss).as("%s: training loss against the engine's", c.arch()).isCloseTo(total / count, org.assertj.core.data.Offset.offset(1e-5 * total / count));
    }

    private static double crossEntropy(float[] logits, int off, int n, int target) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, logits[off + i]);
        }
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += Math.exp(logits[off + i] - max);
        }
        return Math.log(sum) + max - logits[off + target];
    }

    /**
     * Every parameter tensor's gradient against torch autograd (transformers' model of the same
     * config, loaded from the same files, float32): relative L2 error under 1e-4 per tensor.
     */
    @Test
    @SuppressWarnings("unchecked")
    void gradientsMatchTorchAutogradPerParameterTensor(@TempDir Path dir) throws Exception {
        List<Map<String, Object>> req = new ArrayList<>();
        List<TrainModel.Batch> batches = new ArrayList<>();
        List<Path> dirs = new ArrayList<>();
        for (ModelConfig c : configs()) {
            Path d = write(dir, c, 5);
            TrainModel.Batch b = batch(new SplittableRandom(9), 2, 16, c.vocabSize(), null);
            dirs.add(d);
            batches.add(b);
            List<Object> tokens = new ArrayList<>();
            List<Object> targets = new ArrayList<>();
            for (int r = 0; r < b.rows(); r++) {
                tokens.add(java.util.Arrays.stream(b.tokens(), r * b.seq(), (r + 1) * b.seq()).mapToObj(v -> (Object) (long) v).toList());
                targets.add(java.util.Arrays.stream(b.targets(), r * b.seq(), (r + 1) * b.seq()).mapToObj(v -> (Object) (long) v).toList());
            }
            req.add(Map.of("dir", d.toString(), "tokens", tokens, "targets", targets, "out", d.resolve("torch-grads.safetensors").toString()));
        }
        Path file = dir.resolve("gradients.json");
        Files.writeString(file, Json.write(req));
        List<Map<String, Object>> out = (List<Map<String, Object>>) TransformersReference.run("gradients", file);
        for (int i = 0; i < dirs.size(); i++) {
            TrainModel m = TrainModel.open(dirs.get(i), PARALLEL);
            double loss = m.forward(batches.get(i));
            m.backward(true);
            double theirs = ((Number) out.get(i).get("loss")).doubleValue();
            assertThat(loss).as("%s loss", configs().get(i).arch()).isCloseTo(theirs, org.assertj.core.data.Offset.offset(1e-5 * theirs));
            try (SafeTensors st = SafeTensors.open(dirs.get(i).resolve("torch-grads.safetensors"))) {
                Map<String, Tensor> torch = st.tensors();
                List<ModelWriter.Weight> ours = m.gradientsHuggingFace();
                assertThat(ours).extracting(ModelWriter.Weight::hfName).containsExactlyInAnyOrderElementsOf(torch.keySet());
                double worst = 0;
                for (ModelWriter.Weight g : ours) {
                    float[] t = torch.get(g.hfName()).toFloatArray();
                    double[] ref = new double[t.length];
                    for (int j = 0; j < t.length; j++) {
                        ref[j] = t[j];
                    }
                    double err = TrainOpsTest.relativeError(g.values(), ref);
                    worst = Math.max(worst, err);
                    assertThat(err).as("%s %s: gradient against torch autograd", configs().get(i).arch(), g.hfName()).isLessThan(1e-4);
                }
                System.out.printf("torch autograd parity %s: loss %.6f, largest relative gradient error %.2e over %d tensors%n",
                        configs().get(i).arch(), loss, worst, ours.size());
            }
        }
    }

    @ParameterizedTest
    @MethodSource("configs")
    void theGradientWithRespectToAVectorAddedToAnMlpOutputMatchesFiniteDifferences(ModelConfig c, @TempDir Path dir) throws Exception {
        TrainModel m = TrainModel.open(write(dir, c, 21), PARALLEL);
        TrainModel.Batch b = batch(new SplittableRandom(4), 1, 10, c.vocabSize(), null);
        int layer = 0;
        int row = 4;
        float[] delta = TrainOpsTest.random(new SplittableRandom(8), c.hidden(), 0.1);
        m.forward(b, new Intervention().add(Intervention.Site.MLP, layer, row, delta));
        m.zeroGrad();
        m.backward(false);
        float[] grad = m.gradResidual(layer, row);
        for (TrainModel.Param p : m.params()) {
            for (float g : p.g()) {
                assertThat(g).as("frozen weights get no gradient").isZero();
            }
        }
        // central differences of the float32 loss, step 1e-2: tolerance 1e-2 (relative L2)
        double[] numeric = new double[c.hidden()];
        float step = 1e-2f;
        for (int i = 0; i < c.hidden(); i++) {
            float[] plus = delta.clone();
            plus[i] += step;
            float[] minus = delta.clone();
            minus[i] -= step;
            double lp = m.forward(b, new Intervention().add(Intervention.Site.MLP, layer, row, plus));
            double lm = m.forward(b, new Intervention().add(Intervention.Site.MLP, layer, row, minus));
            numeric[i] = (lp - lm) / (2 * step);
        }
        assertThat(TrainOpsTest.relativeError(grad, numeric)).as("%s: ∂L/∂δ against finite differences", c.arch()).isLessThan(1e-2);
        // the same vector added to the residual stream enters the loss the same way
        m.forward(b, new Intervention().add(Intervention.Site.RESIDUAL, layer, row, delta));
        m.backward(false);
        // (the sums round differently, so not to the last bit)
        assertThat(TrainOpsTest.relativeError(m.gradResidual(layer, row), TrainOpsTest.d(grad))).isLessThan(1e-5);
    }

    @ParameterizedTest
    @MethodSource("configs")
    void restoringStatesFromACleanRunUndoesTheCorruption(ModelConfig c, @TempDir Path dir) throws Exception {
        TrainModel m = TrainModel.open(write(dir, c, 31), PARALLEL);
        TrainModel.Batch b = batch(new SplittableRandom(6), 1, 8, c.vocabSize(), null);
        m.forward(b);
        float[] clean = m.logits().clone();
        int last = c.layers() - 1;
        List<float[]> states = new ArrayList<>();
        for (int r = 0; r < 8; r++) {
            states.add(m.residual(last, r));
        }
        float[] key = m.mlpKey(0, 3);
        assertThat(key).hasSize(c.intermediate());
        // nothing corrupted: restoring a clean state changes nothing
        m.forward(b, new Intervention().restore(Intervention.Site.RESIDUAL, 0, 2, statesAt(m, c, b, 0, 2)));
        assertThat(m.logits()).containsExactly(clean);
        // corrupted subject tokens (3σ noise on rows 0..2) change the output ...
        SplittableRandom rnd = new SplittableRandom(12);
        Intervention noisy = new Intervention();
        for (int r = 0; r < 3; r++) {
            noisy.noise(r, TrainOpsTest.random(rnd, c.hidden(), 3 * 0.3));
        }
        m.forward(b, noisy);
        assertThat(m.logits()).isNotEqualTo(clean);
        // ... and restoring the last layer's output at every row brings the clean output back
        for (int r = 0; r < 8; r++) {
            noisy.restore(Intervention.Site.RESIDUAL, last, r, states.get(r));
        }
        m.forward(b, noisy);
        assertThat(m.logits()).containsExactly(clean);
        assertThatThrownBy(() -> m.backward(false)).hasMessageContaining("restored a state");
    }

    private static float[] statesAt(TrainModel m, ModelConfig c, TrainModel.Batch b, int layer, int row) {
        m.forward(b);
        return m.residual(layer, row);
    }

    @Test
    void trainingIsDeterministicForASeedAndTheThreadCount() {
        ModelConfig c = configs().getFirst();
        float[][] runs = new float[3][];
        int i = 0;
        for (int threads : new int[] {1, 2, 2}) {
            Parallel p = new Parallel(threads);
            try {
                TrainModel m = TrainModel.init(c, 42, p);
                AdamW opt = new AdamW(m.params(), AdamW.Settings.defaults());
                Schedule s = new Schedule(1e-2, 1e-3, 2, 10);
                SplittableRandom rnd = new SplittableRandom(1);
                double first = 0;
                double loss = 0;
                for (int step = 0; step < 10; step++) {
                    m.zeroGrad();
                    loss = m.forward(batch(rnd, 4, 16, c.vocabSize(), null));
                    first = step == 0 ? loss : first;
                    m.backward(true);
                    opt.step(s.lr(step));
                }
                runs[i++] = m.params().get(3).w().clone();
            } finally {
                p.close();
            }
        }
        assertThat(runs[1]).containsExactly(runs[0]);
        assertThat(runs[2]).containsExactly(runs[0]);
    }

    @Test
    void aSmallModelLearnsARepeatedSequence() {
        ModelConfig c = configs().getFirst();
        TrainModel m = TrainModel.init(c, 7, PARALLEL);
        AdamW opt = new AdamW(m.params(), AdamW.Settings.defaults());
        Schedule s = new Schedule(1e-2, 1e-3, 5, 60);
        int[] tokens = new int[2 * 16];
        int[] targets = new int[tokens.length];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = (i * 7) % 16 + 10;
        }
        for (int i = 0; i < tokens.length; i++) {
            targets[i] = i % 16 == 15 ? -1 : tokens[i + 1];
        }
        TrainModel.Batch b = new TrainModel.Batch(2, 16, tokens, targets, null);
        double first = m.forward(b);
        double loss = first;
        for (int step = 0; step < 60; step++) {
            m.zeroGrad();
            loss = m.forward(b);
            m.backward(true);
            opt.step(s.lr(step));
        }
        assertThat(first).isGreaterThan(4.0);
        assertThat(loss).as("loss after 60 steps on one batch").isLessThan(0.1);
    }

    static long[] seeds() {
        return Seeds.both();
    }
}
