package io.boundless.edit;

import static org.assertj.core.api.Assertions.assertThat;

import io.boundless.engine.cpu.Parallel;
import io.boundless.engine.format.Json;
import io.boundless.engine.model.Architecture;
import io.boundless.engine.model.ModelConfig;
import io.boundless.engine.model.ModelWriter;
import io.boundless.engine.model.Overlay;
import io.boundless.engine.ref.TransformersReference;
import io.boundless.engine.tensor.DType;
import io.boundless.engine.train.Intervention;
import io.boundless.engine.train.TrainModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The editing methods on small random models against float64 algebra and torch autograd: ROME's update writes v* at
 * k* with rank one and leaves C⁻¹-orthogonal keys alone; MEMIT with one fact in one layer is ROME; AlphaEdit leaves
 * the preserved keys' outputs unchanged; the gradient of the v* and z objective equals torch's; causal tracing's restored runs
 * equal transformers' with the same hooks.
 */
class EditMethodsTest {
    static final Parallel PARALLEL = new Parallel(2);

    @AfterAll
    static void close() {
        PARALLEL.close();
    }

    /** One character per token (printable ASCII), so any prompt encodes; the vocabulary is 97. */
    static final Codec CHARS = new Codec() {
        @Override
        public int[] encode(String text) {
            return text.chars().map(ch -> ch >= 32 && ch < 127 ? ch - 31 : 0).toArray();
        }

        @Override
        public String decode(int[] ids) {
            StringBuilder b = new StringBuilder();
            for (int id : ids) {
                b.append(id > 0 && id < 96 ? (char) (id + 31) : '?');
            }
            return b.toString();
        }
    };

    static final ModelConfig LLAMA = new ModelConfig(Architecture.LLAMA, 97, 32, 80, 2, 4, 2, 8, 1e-5f, 10000, null, 128, true, false, 0, 1, List.of(2));
    static final ModelConfig GPT2 = new ModelConfig(Architecture.GPT2, 97, 32, 128, 2, 4, 4, 8, 1e-5f, 0, null, 128, true, true, 0, 1, List.of(2));

    static Path write(Path dir, ModelConfig c, long seed) throws Exception {
        Path d = dir.resolve(c.arch().name().toLowerCase() + "-" + seed);
        List<ModelWriter.Weight> out = new ArrayList<>();
        for (ModelWriter.Weight x : ModelWriter.randomWeights(c, seed)) {
            float[] v = x.values().clone();
            if (!x.hfName().contains("norm") && !x.hfName().contains("ln_")) {
                for (int i = 0; i < v.length; i++) {
                    v[i] /= 3;  // logits that are not one-hot, gradients that are not tiny
                }
            }
            out.add(new ModelWriter.Weight(x.hfName(), x.shape(), v));
        }
        ModelWriter.writeHuggingFace(d, c, out, DType.F32);
        return d;
    }

    /** A random SPD covariance of n dimensions from m random keys (m > n: full rank). */
    static Covariance.Stats covariance(int layer, int n, int m, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        double[] c = new double[n * n];
        for (int s = 0; s < m; s++) {
            double[] k = new double[n];
            for (int i = 0; i < n; i++) {
                k[i] = rnd.nextGaussian() * (1 + i % 3);
            }
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < n; j++) {
                    c[i * n + j] += k[i] * k[j] / m;
                }
            }
        }
        return new Covariance.Stats(layer, n, c, m, "random");
    }

    @Test
    void romeWritesTheTargetAtTheKeyWithRankOneAndLeavesCOrthogonalKeysUnchanged() {
        int inter = 40;
        int hidden = 12;
        SplittableRandom rnd = new SplittableRandom(5);
        Covariance.Stats c = covariance(0, inter, 400, 6);
        double[] w = new double[hidden * inter];
        for (int i = 0; i < w.length; i++) {
            w[i] = rnd.nextGaussian();
        }
        double[] k = new double[inter];
        double[] v = new double[hidden];
        for (int i = 0; i < inter; i++) {
            k[i] = rnd.nextGaussian();
        }
        for (int i = 0; i < hidden; i++) {
            v[i] = 3 * rnd.nextGaussian();
        }
        double[] wk = Dense.multiply(w, k, hidden, inter, 1);
        Overlay.LowRank d = Rome.update(k, v, wk, c, 0);
        assertThat(d.rank()).isEqualTo(1);
        double[] delta = d.dense();
        double[] after = new double[hidden];
        for (int o = 0; o < hidden; o++) {
            for (int i = 0; i < inter; i++) {
                after[o] += (w[o * inter + i] + delta[o * inter + i]) * k[i];
            }
        }
        for (int o = 0; o < hidden; o++) {
            assertThat(after[o]).as("W'k* = v* at %d", o).isCloseTo(v[o], org.assertj.core.data.Offset.offset(1e-4 * (1 + Math.abs(v[o]))));
        }
        // a key with k*ᵀ C⁻¹ k2 = 0: the update does not move its output
        double[] u = Dense.choleskySolve(Dense.cholesky(c.c(), inter), inter, k, 1);  // C⁻¹k*
        double[] k2 = new double[inter];
        for (int i = 0; i < inter; i++) {
            k2[i] = rnd.nextGaussian();
        }
        double proj = Dense.dot(u, k2) / Dense.dot(u, u);
        for (int i = 0; i < inter; i++) {
            k2[i] -= proj * u[i];
        }
        assertThat(Math.abs(Dense.dot(u, k2))).isLessThan(1e-9 * Dense.norm(u) * Dense.norm(k2));
        double moved = Dense.norm(Dense.multiply(delta, k2, hidden, inter, 1));
        assertThat(moved).as("ΔW k2 for a C⁻¹-orthogonal key").isLessThan(1e-5 * Dense.norm(Dense.multiply(delta, k, hidden, inter, 1)));
    }

    @Test
    void denseSolvesAndEigendecompositionAgainstReconstruction() {
        int n = 30;
        Covariance.Stats c = covariance(0, n, 90, 11);
        SplittableRandom rnd = new SplittableRandom(12);
        double[] b = new double[n * 3];
        for (int i = 0; i < b.length; i++) {
            b[i] = rnd.nextGaussian();
        }
        double[] x = Dense.choleskySolve(Dense.cholesky(c.c(), n), n, b, 3);
        double[] y = Dense.solve(c.c(), n, b, 3);
        double[] back = Dense.multiply(c.c(), x, n, n, 3);
        for (int i = 0; i < b.length; i++) {
            assertThat(back[i]).isCloseTo(b[i], org.assertj.core.data.Offset.offset(1e-9));
            assertThat(y[i]).isCloseTo(x[i], org.assertj.core.data.Offset.offset(1e-9 * (1 + Math.abs(x[i]))));
        }
        Dense.Eigen e = Dense.symmetricEigen(c.c(), n);
        for (int i = 1; i < n; i++) {
            assertThat(e.values()[i]).isGreaterThanOrEqualTo(e.values()[i - 1]);
        }
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                double orth = 0;
                for (int k = 0; k < n; k++) {
                    s += e.vectors()[i * n + k] * e.values()[k] * e.vectors()[j * n + k];
                    orth += e.vectors()[k * n + i] * e.vectors()[k * n + j];
                }
                assertThat(s).as("V Λ Vᵀ = C at (%d, %d)", i, j).isCloseTo(c.c()[i * n + j], org.assertj.core.data.Offset.offset(1e-9));
                assertThat(orth).as("VᵀV = I").isCloseTo(i == j ? 1 : 0, org.assertj.core.data.Offset.offset(1e-9));
            }
        }
    }

    /** Hyperparameters that make ROME's and MEMIT's optimizations the same: no decay, no clamp, no prefixes. */
    static Hyper plain(Hyper.Method m, int layer, double lambda) {
        return new Hyper(m, List.of(layer), Hyper.Token.LAST, 12, 0.2, 0, 0.0625, 0, 1e9, lambda, 1e-2, 1e-6, 0, 0, 1);
    }

    @Test
    void memitWithOneFactInOneLayerIsRome(@TempDir Path dir) throws Exception {
        for (ModelConfig c : List.of(LLAMA, GPT2)) {
            Path d = write(dir, c, 21);
            EditRequest r = new EditRequest("The capital of {subject} is", "Xanadu", "Qu");
            Covariance.Stats stats = covariance(1, c.intermediate(), 4 * c.intermediate(), 22);
            Lm rome = new Lm(TrainModel.open(d, PARALLEL), CHARS);
            Rome.Result rr = Rome.edit(rome, r, plain(Hyper.Method.ROME, 1, 0), stats, List.of(""), Progress.NONE);
            Lm memit = new Lm(TrainModel.open(d, PARALLEL), CHARS);
            // λ → 0: MEMIT's least squares becomes ROME's constraint, (λC + kkᵀ)⁻¹k = C⁻¹k / (λ + kᵀC⁻¹k)
            Memit.Result mr = Memit.edit(memit, List.of(r), plain(Hyper.Method.MEMIT, 1, 1e-6), Map.of(1, stats), List.of(""), new Memit.State(), Progress.NONE);
            double[] a = rr.delta().dense();
            double[] b = mr.deltas().getFirst().dense();
            double diff = 0;
            double norm = 0;
            for (int i = 0; i < a.length; i++) {
                diff += (a[i] - b[i]) * (a[i] - b[i]);
                norm += a[i] * a[i];
            }
            assertThat(norm).as("%s: ROME changed the layer", c.arch()).isGreaterThan(1e-6);
            assertThat(Math.sqrt(diff / norm)).as("%s: MEMIT's one-fact one-layer update against ROME's", c.arch()).isLessThan(1e-4);
        }
    }

    @Test
    void alphaEditLeavesThePreservedKeysOutputsUnchanged(@TempDir Path dir) throws Exception {
        Path d = write(dir, LLAMA, 31);
        int inter = LLAMA.intermediate();
        // preserved keys spanning 30 of the 80 dimensions: the null space is the other 50
        SplittableRandom rnd = new SplittableRandom(32);
        int m = 30;
        double[][] k0 = new double[m][inter];
        double[] c = new double[inter * inter];
        for (double[] k : k0) {
            for (int i = 0; i < inter; i++) {
                k[i] = rnd.nextGaussian();
            }
            for (int i = 0; i < inter; i++) {
                for (int j = 0; j < inter; j++) {
                    c[i * inter + j] += k[i] * k[j] / m;
                }
            }
        }
        Covariance.Stats stats = new Covariance.Stats(1, inter, c, m, "preserved");
        Lm lm = new Lm(TrainModel.open(d, PARALLEL), CHARS);
        Hyper h = new Hyper(Hyper.Method.ALPHAEDIT, List.of(0, 1), Hyper.Token.LAST, 12, 0.2, 0, 0.0625, 0, 1e9, 10, 1e-6, 1, 0, 0, 1);
        Memit.State state = new Memit.State();
        Memit.Result r = Memit.edit(lm, List.of(new EditRequest("The capital of {subject} is", "Xanadu", "Qu"),
                new EditRequest("{subject} was born in", "Ada", "Zz")), h, Map.of(0, stats, 1, stats), List.of(""), state, Progress.NONE);
        assertThat(state.nullity(1)).isEqualTo(inter - m);
        for (Overlay.LowRank delta : r.deltas()) {
            assertThat(delta.rank()).isEqualTo(2);
            double[] dd = delta.dense();
            double frob = Math.sqrt(java.util.Arrays.stream(dd).map(x -> x * x).sum());
            assertThat(frob).as("layer %d changed", delta.layer()).isGreaterThan(1e-3);
            for (double[] k : k0) {
                double moved = Dense.norm(Dense.multiply(dd, k, LLAMA.hidden(), inter, 1));
                assertThat(moved).as("layer %d: Δ k₀ for a preserved key", delta.layer()).isLessThan(1e-5 * frob * Dense.norm(k));
            }
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void theValueObjectivesGradientMatchesTorchAutograd(@TempDir Path dir) throws Exception {
        List<Map<String, Object>> req = new ArrayList<>();
        List<double[]> ours = new ArrayList<>();
        List<Double> losses = new ArrayList<>();
        EditRequest r = new EditRequest("The capital of {subject} is", "Xanadu", "Qu");
        int n = 0;
        for (ModelConfig c : List.of(LLAMA, GPT2)) {
            Path d = write(dir, c, 41 + n);
            for (Intervention.Site site : List.of(Intervention.Site.MLP, Intervention.Site.RESIDUAL)) {
                for (Hyper.Token token : Hyper.Token.values()) {
                    Lm lm = new Lm(TrainModel.open(d, PARALLEL), CHARS);
                    List<String> contexts = List.of("", "Once. ");
                    Target.Rows rows = Target.rows(lm, r, contexts, token);
                    Lm.Packed p = Lm.pack(rows.ids());
                    float[] logits = lm.forward(p, null);
                    double[] klInit = Lm.logSoftmax(logits, p.at(rows.klRow(), rows.ids().get(rows.klRow()).length - 1), c.vocabSize());
                    SplittableRandom rnd = new SplittableRandom(n);
                    double[] delta = new double[c.hidden()];
                    for (int i = 0; i < delta.length; i++) {
                        delta[i] = 0.3 * rnd.nextGaussian();
                    }
                    Target.Gradient g = Target.gradient(lm, rows, p, 0, site, delta, klInit, 0.0625, x -> true);  // layer 0: later layers read it
                    ours.add(g.grad());
                    losses.add(g.loss());
                    Map<String, Object> q = new LinkedHashMap<>();
                    q.put("dir", d.toString());
                    q.put("rows", rows.ids().stream().map(a -> java.util.Arrays.stream(a).boxed().toList()).toList());
                    q.put("lookup", java.util.Arrays.stream(rows.lookup()).boxed().toList());
                    q.put("layer", 0);
                    q.put("site", site == Intervention.Site.MLP ? "mlp" : "residual");
                    q.put("target", java.util.Arrays.stream(rows.targetIds()).boxed().toList());
                    q.put("rewriting", rows.rewriting());
                    q.put("kl_row", rows.klRow());
                    q.put("kl_factor", 0.0625);
                    q.put("delta", java.util.Arrays.stream(delta).boxed().toList());
                    req.add(q);
                    n++;
                }
            }
        }
        Path f = dir.resolve("edit-gradient.json");
        Files.writeString(f, Json.write(req));
        List<Map<String, Object>> out = (List<Map<String, Object>>) TransformersReference.run("edit-gradient", f);
        for (int i = 0; i < out.size(); i++) {
            double torchLoss = ((Number) out.get(i).get("loss")).doubleValue();
            List<Object> tg = (List<Object>) out.get(i).get("grad");
            assertThat(losses.get(i)).as("case %d: the objective", i).isCloseTo(torchLoss, org.assertj.core.data.Offset.offset(1e-4 * Math.abs(torchLoss)));
            double diff = 0;
            double norm = 0;
            for (int j = 0; j < tg.size(); j++) {
                double t = ((Number) tg.get(j)).doubleValue();
                diff += (ours.get(i)[j] - t) * (ours.get(i)[j] - t);
                norm += t * t;
            }
            assertThat(norm).as("case %d: torch gradient %s (ours %s)", i, tg.subList(0, 3), java.util.Arrays.toString(java.util.Arrays.copyOf(ours.get(i), 3))).isGreaterThan(0);
            assertThat(Math.sqrt(diff / norm)).as("case %d: ∂L/∂δ against torch autograd (relative L2)", i).isLessThan(1e-4);
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void causalTracingsRestoredRunsMatchTransformers(@TempDir Path dir) throws Exception {
        List<Map<String, Object>> req = new ArrayList<>();
        List<double[]> ours = new ArrayList<>();
        int n = 0;
        for (ModelConfig c : List.of(LLAMA, GPT2)) {
            Path d = write(dir, c, 51 + n++);
            Lm lm = new Lm(TrainModel.open(d, PARALLEL), CHARS);
            String template = "The capital of {subject} is";
            int[] ids = CHARS.encode(EditRequest.render(template, "Xanadu"));
            int[] subj = EditRequest.subjectTokens(CHARS, template, "Xanadu");
            assertThat(subj).containsExactly(15, 20);
            SplittableRandom rnd = new SplittableRandom(9);
            float[][][] noise = new float[3][subj[1] - subj[0] + 1][c.hidden()];
            for (float[][] s : noise) {
                for (float[] v : s) {
                    for (int j = 0; j < v.length; j++) {
                        v[j] = (float) (0.5 * rnd.nextGaussian());
                    }
                }
            }
            int answer = 7;
            // the clean states of layer 0 (transformers' hidden state 1) at three tokens
            lm.forward(Lm.pack(List.of(ids)), null);
            int[] positions = {subj[1], 21, ids.length - 1};
            List<List<Intervention.Patch>> runs = new ArrayList<>();
            List<Object> restores = new ArrayList<>();
            restores.add(null);
            for (int pos : positions) {
                runs.add(List.of(new Intervention.Patch(Intervention.Site.RESIDUAL, 0, pos, lm.model().residual(0, pos), false)));
                restores.add(List.of(0, pos));
            }
            double[] base = CausalTrace.run(lm, ids, subj, noise, answer, List.of());
            double[] restored = CausalTrace.run(lm, ids, subj, noise, answer, runs);
            double[] all = new double[1 + restored.length];
            all[0] = base[0];
            System.arraycopy(restored, 0, all, 1, restored.length);
            ours.add(all);
            Map<String, Object> q = new LinkedHashMap<>();
            q.put("dir", d.toString());
            q.put("ids", java.util.Arrays.stream(ids).boxed().toList());
            q.put("subject", List.of(subj[0], subj[1]));
            List<Object> nz = new ArrayList<>();
            for (float[][] s : noise) {
                List<Object> rows = new ArrayList<>();
                for (float[] v : s) {
                    List<Double> row = new ArrayList<>();
                    for (float x : v) {
                        row.add((double) x);
                    }
                    rows.add(row);
                }
                nz.add(rows);
            }
            q.put("noise", nz);
            q.put("answer", answer);
            q.put("restores", restores);
            req.add(q);
        }
        Path f = dir.resolve("trace.json");
        Files.writeString(f, Json.write(req));
        List<Map<String, Object>> out = (List<Map<String, Object>>) TransformersReference.run("trace-restore", f);
        for (int i = 0; i < out.size(); i++) {
            List<Object> p = (List<Object>) out.get(i).get("p");
            for (int j = 0; j < p.size(); j++) {
                double t = ((Number) p.get(j)).doubleValue();
                assertThat(ours.get(i)[j]).as("model %d, run %d (0: corrupted, then restored)", i, j).isCloseTo(t, org.assertj.core.data.Offset.offset(1e-5 + 1e-4 * t));
            }
        }
    }
}
