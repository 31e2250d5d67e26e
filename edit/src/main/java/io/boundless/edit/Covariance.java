package io.boundless.edit;

import io.boundless.engine.cpu.Parallel;
import io.boundless.engine.format.SafeTensors;
import io.boundless.engine.model.ModelWriter;
import io.boundless.engine.tensor.DType;
import io.boundless.engine.tensor.Tensor;
import io.boundless.engine.train.Gemm;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * C = E[k kᵀ], the uncentered second moment of the MLP's inner activation (the down projection's input) over every
 * token of a text corpus, per layer: what ROME's C⁻¹, MEMIT's λC and AlphaEdit's null space are made of. Computed once
 * per (model version, layer, corpus, token count) and cached as a float32 safetensors file in the version's
 * {@code stats/} directory, so that a second edit reads it back in milliseconds instead of recomputing it.
 */
public final class Covariance {
    /** The statistics of one layer: C (intermediate × intermediate, float64) over count tokens. */
    public record Stats(int layer, int dim, double[] c, long count, String corpus) {}

    private Covariance() {}

    /** The cache file of (layer, corpus, tokens) under a version's directory. */
    public static Path file(Path versionDir, int layer, String corpus, long tokens) {
        return versionDir.resolve("stats").resolve("mlp-keys.layer-" + layer + "." + corpus + "." + tokens + ".safetensors");
    }

    /**
     * The statistics of layers, read from the cache where present and computed (then cached) where not; cacheDir
     * null computes without caching. texts is read only if some layer is missing. progress hears "covariance".
     */
    public static Map<Integer, Stats> get(Lm lm, List<Integer> layers, Path versionDir, String corpus, long tokens, Iterable<String> texts,
            Parallel parallel, Progress progress) throws IOException {
        Map<Integer, Stats> out = new LinkedHashMap<>();
        List<Integer> missing = new ArrayList<>();
        for (int l : layers) {
            Path f = versionDir == null ? null : file(versionDir, l, corpus, tokens);
            if (f != null && Files.isRegularFile(f)) {
                out.put(l, read(f, l, corpus));
                progress.report("covariance", 1, 1, "layer " + l + ": cached statistics over " + tokens + " tokens of " + corpus);
            } else {
                missing.add(l);
            }
        }
        if (!missing.isEmpty()) {
            Map<Integer, Stats> computed = compute(lm, missing, corpus, tokens, texts, parallel, progress);
            for (var e : computed.entrySet()) {
                if (versionDir != null) {
                    write(file(versionDir, e.getKey(), corpus, tokens), e.getValue());
                }
                out.put(e.getKey(), e.getValue());
            }
        }
        return out;
    }

    /** C over the first tokens tokens of texts (whole documents, one per row, 32 rows per forward). */
    public static Map<Integer, Stats> compute(Lm lm, List<Integer> layers, String corpus, long tokens, Iterable<String> texts, Parallel parallel,
            Progress progress) {
        int inter = lm.model().config().intermediate();
        int maxLen = Math.min(128, lm.model().config().maxPositions());
        Gemm gemm = new Gemm(parallel);
        Map<Integer, double[]> sums = new LinkedHashMap<>();
        for (int l : layers) {
            sums.put(l, new double[inter * inter]);
        }
        long seen = 0;
        long t0 = System.nanoTime();
        List<int[]> rows = new ArrayList<>();
        var it = texts.iterator();
        float[] block = new float[inter * inter];
        while (seen < tokens && it.hasNext()) {
            rows.clear();
            long batchTokens = 0;
            while (rows.size() < 32 && it.hasNext() && seen + batchTokens < tokens) {
                int[] ids = lm.codec().encode(it.next());
                if (ids.length == 0) {
                    continue;
                }
                if (ids.length > maxLen) {
                    ids = java.util.Arrays.copyOf(ids, maxLen);
                }
                long room = tokens - seen - batchTokens;
                if (ids.length > room) {
                    ids = java.util.Arrays.copyOf(ids, (int) room);
                }
                rows.add(ids);
                batchTokens += ids.length;
            }
            if (rows.isEmpty()) {
                break;
            }
            Lm.Packed p = Lm.pack(rows);
            lm.forward(p, null);
            int n = (int) batchTokens;
            float[] k = new float[n * inter];  // the real tokens' keys, [n, inter]
            float[] kt = new float[inter * n];
            for (int l : layers) {
                float[] all = lm.model().mlpKeys(l);
                int r = 0;
                for (int i = 0; i < rows.size(); i++) {
                    for (int j = 0; j < p.lengths()[i]; j++, r++) {
                        System.arraycopy(all, p.at(i, j) * inter, k, r * inter, inter);
                    }
                }
                gemm.transpose(k, n, inter, kt);
                gemm.nn(kt, k, block, inter, inter, n, false);
                double[] s = sums.get(l);
                for (int i = 0; i < s.length; i++) {
                    s[i] += block[i];
                }
            }
            seen += batchTokens;
            double secs = (System.nanoTime() - t0) / 1e9;
            double rate = seen / Math.max(1e-9, secs);
            progress.report("covariance", seen, tokens, String.format("layers %s: %d / %d tokens, %.0f tok/s, ETA %.0f s", layers, seen, tokens, rate,
                    (tokens - seen) / Math.max(1e-9, rate)));
        }
        if (seen == 0) {
            throw new IllegalArgumentException("the corpus " + corpus + " has no text");
        }
        Map<Integer, Stats> out = new LinkedHashMap<>();
        for (var e : sums.entrySet()) {
            double[] c = e.getValue();
            for (int i = 0; i < c.length; i++) {
                c[i] /= seen;
            }
            // exactly symmetric (the float32 blocks are, to rounding)
            for (int i = 0; i < inter; i++) {
                for (int j = i + 1; j < inter; j++) {
                    double a = 0.5 * (c[i * inter + j] + c[j * inter + i]);
                    c[i * inter + j] = a;
                    c[j * inter + i] = a;
                }
            }
            for (int i = 0; i < c.length; i++) {
                c[i] = (float) c[i];  // as the cache holds it, so a cached run equals a fresh one
            }
            out.put(e.getKey(), new Stats(e.getKey(), inter, c, seen, corpus));
        }
        return out;
    }

    static void write(Path file, Stats s) throws IOException {
        Files.createDirectories(file.getParent());
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = ModelWriter.tensor(arena, "mom2", DType.F32, new long[] {s.dim(), s.dim()}, Dense.toFloat(s.c()));
            SafeTensors.write(tmp, Map.of("mom2", t), Map.of("layer", String.valueOf(s.layer()), "count", String.valueOf(s.count()),
                    "corpus", s.corpus()));
        }
        Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    static Stats read(Path file, int layer, String corpus) throws IOException {
        try (SafeTensors st = SafeTensors.open(file)) {
            Tensor t = st.tensors().get("mom2");
            if (t == null || t.shape().length != 2 || t.shape()[0] != t.shape()[1]) {
                throw new IOException(file + " is not a covariance file (no square tensor mom2)");
            }
            String count = st.metadata().getOrDefault("count", "0");
            return new Stats(layer, (int) t.shape()[0], Dense.toDouble(t.toFloatArray()), Long.parseLong(count), corpus);
        }
    }
}
