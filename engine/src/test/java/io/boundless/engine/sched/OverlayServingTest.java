package io.boundless.engine.sched;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.boundless.engine.format.SafeTensors;
import io.boundless.engine.model.DeltaVersion;
import io.boundless.engine.model.LoadedModel;
import io.boundless.engine.model.ModelWriter;
import io.boundless.engine.model.Overlay;
import io.boundless.engine.sample.SamplingParams;
import io.boundless.engine.tensor.DType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Delta versions served as overlays: one batch mixes base rows and rows of several deltas, each row equal to the
 * model whose down projection is W + UVᵀ written out in full; the prefix cache never hands a delta's sequence the
 * base's blocks or another delta's (the hash is salted by the delta's content, not its name); the delta file format.
 */
class OverlayServingTest {
    @org.junit.jupiter.api.BeforeAll
    static void model() throws Exception {
        EngineTest.writeModel();  // EngineTest's model: its engine() and alone() serve it
    }

    @org.junit.jupiter.api.AfterAll
    static void close() {
        EngineTest.close();
    }

    static Overlay.LowRank random(int layer, int rank, long seed, double scale) {
        SplittableRandom r = new SplittableRandom(seed);
        int out = EngineTest.CONFIG.hidden();
        int in = EngineTest.CONFIG.intermediate();
        float[] u = new float[out * rank];
        float[] v = new float[in * rank];
        for (int i = 0; i < u.length; i++) {
            u[i] = (float) (scale * r.nextGaussian());
        }
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (scale * r.nextGaussian());
        }
        return new Overlay.LowRank(layer, out, in, rank, u, v);
    }

    static Overlay overlay(Path dir, String name, List<Overlay.LowRank> deltas) throws Exception {
        Path f = dir.resolve(name + ".safetensors");
        Overlay.write(f, EngineTest.CONFIG.arch(), deltas, Map.of());
        return Overlay.read(name, f, EngineTest.CONFIG);
    }

    /** The base model with the deltas added into its down projections, written as a checkpoint of its own. */
    static Path merged(Path dir, String name, List<Overlay.LowRank> deltas) throws Exception {
        List<ModelWriter.Weight> weights = new ArrayList<>();
        for (ModelWriter.Weight w : ModelWriter.randomWeights(EngineTest.CONFIG, 42)) {
            float[] v = w.values().clone();
            for (Overlay.LowRank d : deltas) {
                if (w.hfName().equals(Overlay.matrixName(EngineTest.CONFIG.arch(), d.layer()))) {
                    double[] dense = d.dense();
                    for (int i = 0; i < v.length; i++) {
                        v[i] = (float) (v[i] + dense[i]);
                    }
                }
            }
            weights.add(new ModelWriter.Weight(w.hfName(), w.shape(), v));
        }
        Path d = dir.resolve(name);
        ModelWriter.writeHuggingFace(d, EngineTest.CONFIG, weights, DType.F32);
        return d;
    }

    static List<Integer> run(Engine e, int[] prompt, Overlay o, EngineTest.Collector c) {
        long id = e.submit(prompt, EngineTest.greedyPastEos(12), 1, 0, c, o)[0];
        EngineTest.drain(e);
        return c.tokens.get(id);
    }

    @Test
    void oneBatchServesTheBaseAndSeveralDeltasEachAsItsMergedWeights(@TempDir Path dir) throws Exception {
        List<Overlay.LowRank> a = List.of(random(0, 1, 1, 0.3), random(1, 2, 2, 0.3));
        List<Overlay.LowRank> b = List.of(random(1, 3, 3, 0.3));
        Overlay oa = overlay(dir, "a", a);
        Overlay ob = overlay(dir, "b", b);
        int[] prompt = EngineTest.prompt(5, 37);
        List<Integer> base = EngineTest.alone(prompt, EngineTest.greedyPastEos(12));
        List<List<Integer>> want = new ArrayList<>();
        for (var m : List.of(merged(dir, "ma", a), merged(dir, "mb", b))) {
            try (LoadedModel lm = LoadedModel.open(m); Engine e = new Engine(lm.weights(), new EngineConfig(4, 256 * io.boundless.engine.kv.KvCache.bytesPerBlock(EngineTest.CONFIG, 4), 512, 16, 64, 2))) {
                want.add(run(e, prompt, null, new EngineTest.Collector()));
            }
        }
        assertThat(want.get(0)).as("the delta changes the model").isNotEqualTo(base);
        try (Engine e = EngineTest.engine(256, 512)) {
            EngineTest.Collector c = new EngineTest.Collector();
            long[] ids = {e.submit(prompt, EngineTest.greedyPastEos(12), 1, 0, c, null)[0], e.submit(prompt, EngineTest.greedyPastEos(12), 1, 0, c, oa)[0],
                    e.submit(prompt, EngineTest.greedyPastEos(12), 1, 0, c, ob)[0]};
            EngineTest.drain(e);  // the three in the same steps
            assertThat(c.tokens.get(ids[0])).as("the base row").isEqualTo(base);
            assertThat(c.tokens.get(ids[1])).as("delta a's row, as the merged checkpoint").isEqualTo(want.get(0));
            assertThat(c.tokens.get(ids[2])).as("delta b's row, as the merged checkpoint").isEqualTo(want.get(1));
        }
    }

    @Test
    void aDeltaNeverReusesTheBasesOrAnotherDeltasPrefixBlocks(@TempDir Path dir) throws Exception {
        Overlay oa = overlay(dir, "a", List.of(random(0, 1, 1, 0.3)));
        Overlay ob = overlay(dir, "b", List.of(random(0, 1, 2, 0.3)));
        Overlay sameAsA = overlay(dir, "a-under-another-name", List.of(random(0, 1, 1, 0.3)));
        int[] prompt = EngineTest.prompt(9, 45);  // eleven full blocks of 4 and one more token
        try (Engine e = EngineTest.engine(256, 512)) {
            EngineTest.Collector c = new EngineTest.Collector();
            long base1 = e.submit(prompt, EngineTest.greedyPastEos(2), 1, 0, c, null)[0];
            EngineTest.drain(e);
            long a1 = e.submit(prompt, EngineTest.greedyPastEos(2), 1, 0, c, oa)[0];
            EngineTest.drain(e);
            long b1 = e.submit(prompt, EngineTest.greedyPastEos(2), 1, 0, c, ob)[0];
            EngineTest.drain(e);
            long a2 = e.submit(prompt, EngineTest.greedyPastEos(2), 1, 0, c, sameAsA)[0];
            long base2 = e.submit(prompt, EngineTest.greedyPastEos(2), 1, 0, c, null)[0];
            EngineTest.drain(e);
            assertThat(c.cached.get(base1)).isZero();
            assertThat(c.cached.get(a1)).as("delta a after the base: none of the base's blocks").isZero();
            assertThat(c.cached.get(b1)).as("delta b after a: none of a's").isZero();
            assertThat(c.cached.get(a2)).as("the same weights under another name share a's blocks").isEqualTo(44);
            assertThat(c.cached.get(base2)).as("the base still finds its own").isEqualTo(44);
        }
    }

    @Test
    void aBackendThatCannotApplyOverlaysRefusesADeltaInsteadOfServingTheBase(@TempDir Path dir) throws Exception {
        Overlay oa = overlay(dir, "a", List.of(random(0, 1, 1, 0.3)));
        var cfg = new EngineConfig(4, 256 * io.boundless.engine.kv.KvCache.bytesPerBlock(EngineTest.CONFIG, 4), 512, 16, 64, 2);
        var cpu = new io.boundless.engine.backend.CpuBackend(EngineTest.model.weights(), 2, 4, cfg.kvBudgetBytes());
        try (Engine e = new Engine(EngineTest.CONFIG, cfg, new EngineTest.OverCpu(cpu) {
            @Override
            public String name() {
                return "no-overlays";
            }

            @Override
            public io.boundless.engine.backend.StepOutput forward(List<io.boundless.engine.model.Transformer.Chunk> chunks,
                    io.boundless.engine.backend.RowNeed[] needs) {
                return cpu.forward(chunks, needs);
            }
        })) {
            assertThatThrownBy(() -> e.submit(EngineTest.prompt(1, 8), EngineTest.greedyPastEos(2), 1, 0, new EngineTest.Collector(), oa))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("does not serve delta versions");
            assertThat(run(e, EngineTest.prompt(1, 8), null, new EngineTest.Collector())).as("the base still serves").hasSize(12);
        }
    }

    @Test
    void theDeltaFileRoundTripsAndBadFilesAreRefusedByName(@TempDir Path dir) throws Exception {
        Overlay.LowRank d = random(1, 2, 7, 1);
        Overlay o = overlay(dir, "x", List.of(d));
        assertThat(o.at(1).u()).containsExactly(d.u());
        assertThat(o.at(1).v()).containsExactly(d.v());
        assertThat(o.at(0)).isNull();
        assertThat(o.salt()).isNotZero();
        assertThat(o.bytes()).isEqualTo(4L * (d.u().length + d.v().length));
        // an independent reader: the safetensors header names the tensors and shapes
        try (SafeTensors st = SafeTensors.open(dir.resolve("x.safetensors"))) {
            assertThat(st.tensors().keySet()).containsExactly("model.layers.1.mlp.down_proj.weight.delta_u", "model.layers.1.mlp.down_proj.weight.delta_v");
            assertThat(st.tensors().get("model.layers.1.mlp.down_proj.weight.delta_u").shape()).containsExactly(64, 2);
        }
        Path wrongLayer = dir.resolve("w.safetensors");
        Overlay.write(wrongLayer, EngineTest.CONFIG.arch(), List.of(new Overlay.LowRank(7, 64, 160, 1, new float[64], new float[160])), Map.of());
        assertThatThrownBy(() -> Overlay.read("w", wrongLayer, EngineTest.CONFIG)).hasMessageContaining("layer 7 is outside");
        Path wrongShape = dir.resolve("s.safetensors");
        Overlay.write(wrongShape, EngineTest.CONFIG.arch(), List.of(new Overlay.LowRank(0, 32, 160, 1, new float[32], new float[160])), Map.of());
        assertThatThrownBy(() -> Overlay.read("s", wrongShape, EngineTest.CONFIG)).hasMessageContaining("the model needs [64, r] and [160, r]");
    }

    @Test
    void aDeltaVersionDirectoryIsCheckedAgainstItsManifest(@TempDir Path store) throws Exception {
        Path dir = DeltaVersion.write(store, "m/1+e-1", EngineTest.CONFIG.arch(), List.of(random(0, 1, 1, 1)), Map.of("base", "m/1", "base_weights_sha256", "00"));
        DeltaVersion.Manifest m = DeltaVersion.read(dir);
        assertThat(m.base()).isEqualTo("m/1");
        assertThat(m.files()).containsKey(DeltaVersion.DELTA);
        assertThat(Files.readString(dir.resolve("SHA256SUMS"))).contains(m.files().get(DeltaVersion.DELTA) + "  delta.safetensors");
        assertThatThrownBy(() -> DeltaVersion.write(store, "m/1+e-1", EngineTest.CONFIG.arch(), List.of(random(0, 1, 1, 1)), Map.of("base", "m/1")))
                .hasMessageContaining("never overwritten");
        Files.write(dir.resolve(DeltaVersion.DELTA), new byte[] {1, 2, 3}, java.nio.file.StandardOpenOption.APPEND);
        assertThatThrownBy(() -> DeltaVersion.read(dir)).hasMessageContaining("changed or damaged");
        assertThat(DeltaVersion.baseOf("boundless-world/1+e-3f")).isEqualTo("boundless-world/1");
        assertThat(DeltaVersion.isDelta("boundless-world/1")).isFalse();
    }
}
