package io.boundless.engine.model;

import io.boundless.engine.format.SafeTensors;
import io.boundless.engine.tensor.DType;
import io.boundless.engine.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A low-rank delta over a base model's MLP down projections (what ROME, MEMIT and AlphaEdit write): per edited
 * layer, factors U [hidden, r] and V [intermediate, r] such that the edited matrix is W + U Vᵀ. Served as an overlay,
 * y = W k + U (Vᵀ k), so the base weights stay shared: one replica serves the base and any number of overlays in the
 * same batch, each row with its own (as multi-LoRA serving does).
 *
 * <p>On disk: a safetensors file with float32 tensors {@code <matrix>.delta_u} [hidden, r] and {@code <matrix>.delta_v}
 * [intermediate, r], {@code <matrix>} being the Hugging Face name of the down projection
 * ({@code model.layers.1.mlp.down_proj.weight}, GPT-2's {@code h.1.mlp.c_proj.weight}).
 *
 * <p>{@link #salt()} comes from the file's bytes, not the version's name: the prefix cache keys its blocks by it, so
 * two versions share KV blocks only if their weights are the same.
 */
public final class Overlay {
    /** One edited matrix: W + U Vᵀ with U [out, rank], V [in, rank], row-major. */
    public record LowRank(int layer, int out, int in, int rank, float[] u, float[] v) {
        public LowRank {
            if (u.length != out * rank || v.length != in * rank) {
                throw new IllegalArgumentException("layer " + layer + ": U must be " + out + " × " + rank + " and V " + in + " × " + rank);
            }
        }

        /** y[yOff..] += U (Vᵀ x[xOff..]). */
        public void apply(float[] x, int xOff, float[] y, int yOff) {
            double[] t = new double[rank];
            for (int i = 0; i < in; i++) {
                float xi = x[xOff + i];
                if (xi == 0) {
                    continue;
                }
                int vo = i * rank;
                for (int r = 0; r < rank; r++) {
                    t[r] += (double) v[vo + r] * xi;
                }
            }
            for (int o = 0; o < out; o++) {
                double s = 0;
                int uo = o * rank;
                for (int r = 0; r < rank; r++) {
                    s += u[uo + r] * t[r];
                }
                y[yOff + o] += (float) s;
            }
        }

        /** The dense U Vᵀ, [out, in]. */
        public double[] dense() {
            double[] d = new double[out * in];
            for (int o = 0; o < out; o++) {
                for (int i = 0; i < in; i++) {
                    double s = 0;
                    for (int r = 0; r < rank; r++) {
                        s += (double) u[o * rank + r] * v[i * rank + r];
                    }
                    d[o * in + i] = s;
                }
            }
            return d;
        }

        /** This delta followed by another of the same matrix: the ranks side by side, W + U₁V₁ᵀ + U₂V₂ᵀ. */
        public LowRank plus(LowRank o) {
            if (o.layer != layer || o.out != out || o.in != in) {
                throw new IllegalArgumentException("deltas of different matrices cannot be joined");
            }
            int r = rank + o.rank;
            float[] nu = new float[out * r];
            float[] nv = new float[in * r];
            for (int i = 0; i < out; i++) {
                System.arraycopy(u, i * rank, nu, i * r, rank);
                System.arraycopy(o.u, i * o.rank, nu, i * r + rank, o.rank);
            }
            for (int i = 0; i < in; i++) {
                System.arraycopy(v, i * rank, nv, i * r, rank);
                System.arraycopy(o.v, i * o.rank, nv, i * r + rank, o.rank);
            }
            return new LowRank(layer, out, in, r, nu, nv);
        }

        public long bytes() {
            return 4L * (u.length + v.length);
        }
    }

    private static final Pattern LLAMA = Pattern.compile("model\\.layers\\.(\\d+)\\.mlp\\.down_proj\\.weight");
    private static final Pattern GPT2 = Pattern.compile("(?:transformer\\.)?h\\.(\\d+)\\.mlp\\.c_proj\\.weight");

    private final String name;
    private final Map<Integer, LowRank> byLayer;
    private final long salt;
    private final String sha256;

    public Overlay(String name, List<LowRank> deltas, String sha256) {
        this.name = name;
        Map<Integer, LowRank> m = new TreeMap<>();
        for (LowRank d : deltas) {
            m.merge(d.layer(), d, LowRank::plus);
        }
        this.byLayer = Collections.unmodifiableMap(m);
        this.sha256 = sha256;
        this.salt = sha256 == null ? 0 : Long.parseUnsignedLong(sha256.substring(0, 16), 16) | 1L;
    }

    /** The name it is served under (the version's model-store path). */
    public String name() {
        return name;
    }

    /** The delta of layer's down projection, or null. */
    public LowRank at(int layer) {
        return byLayer.get(layer);
    }

    public Map<Integer, LowRank> layers() {
        return byLayer;
    }

    /** A 64-bit key of the delta's content (never 0, the base's), for the prefix cache. */
    public long salt() {
        return salt;
    }

    public String sha256() {
        return sha256;
    }

    public long bytes() {
        return byLayer.values().stream().mapToLong(LowRank::bytes).sum();
    }

    /** The Hugging Face name of layer's down projection for an architecture. */
    public static String matrixName(Architecture arch, int layer) {
        return arch.isLlamaLike() ? "model.layers." + layer + ".mlp.down_proj.weight" : "h." + layer + ".mlp.c_proj.weight";
    }

    /** Writes the deltas as a safetensors file (float32), with metadata; returns its sha256. */
    public static String write(Path file, Architecture arch, List<LowRank> deltas, Map<String, String> metadata) throws IOException {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try (Arena arena = Arena.ofConfined()) {
            for (LowRank d : deltas) {
                String m = matrixName(arch, d.layer());
                tensors.put(m + ".delta_u", ModelWriter.tensor(arena, m + ".delta_u", DType.F32, new long[] {d.out(), d.rank()}, d.u()));
                tensors.put(m + ".delta_v", ModelWriter.tensor(arena, m + ".delta_v", DType.F32, new long[] {d.in(), d.rank()}, d.v()));
            }
            Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
            SafeTensors.write(tmp, tensors, metadata);
            Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        }
        return sha256(file);
    }

    /**
     * Reads a delta file for a base model of config c, checking every factor's shape against the model. Refused
     * with an IllegalArgumentException that names the problem: a tensor that is not a down projection's factor, a
     * layer the model lacks, a wrong shape, a factor without its pair.
     */
    public static Overlay read(String name, Path file, ModelConfig c) throws IOException {
        String sha = sha256(file);
        Map<Integer, float[][]> parts = new TreeMap<>();
        Map<Integer, long[][]> shapes = new TreeMap<>();
        try (SafeTensors st = SafeTensors.open(file)) {
            for (Tensor t : st.tensors().values()) {
                String n = t.name();
                boolean isU = n.endsWith(".delta_u");
                if (!isU && !n.endsWith(".delta_v")) {
                    throw new IllegalArgumentException(file + ": tensor " + n + " is not a delta factor (<matrix>.delta_u or .delta_v)");
                }
                String matrix = n.substring(0, n.length() - ".delta_u".length());
                Matcher m = (c.arch().isLlamaLike() ? LLAMA : GPT2).matcher(matrix);
                if (!m.matches()) {
                    throw new IllegalArgumentException(file + ": " + matrix + " is not an MLP down projection of a " + c.arch() + " model");
                }
                int layer = Integer.parseInt(m.group(1));
                if (layer >= c.layers()) {
                    throw new IllegalArgumentException(file + ": layer " + layer + " is outside the model's " + c.layers() + " layers");
                }
                if (t.shape().length != 2) {
                    throw new IllegalArgumentException(file + ": " + n + " is not a matrix");
                }
                parts.computeIfAbsent(layer, k -> new float[2][])[isU ? 0 : 1] = t.toFloatArray();
                shapes.computeIfAbsent(layer, k -> new long[2][])[isU ? 0 : 1] = t.shape();
            }
        }
        List<LowRank> deltas = new ArrayList<>();
        for (var e : parts.entrySet()) {
            int layer = e.getKey();
            long[][] s = shapes.get(layer);
            if (s[0] == null || s[1] == null) {
                throw new IllegalArgumentException(file + ": layer " + layer + " has only one of delta_u and delta_v");
            }
            if (s[0][0] != c.hidden() || s[1][0] != c.intermediate() || s[0][1] != s[1][1] || s[0][1] < 1) {
                throw new IllegalArgumentException(file + ": layer " + layer + "'s factors are " + java.util.Arrays.toString(s[0]) + " and "
                        + java.util.Arrays.toString(s[1]) + "; the model needs [" + c.hidden() + ", r] and [" + c.intermediate() + ", r]");
            }
            deltas.add(new LowRank(layer, c.hidden(), c.intermediate(), (int) s[0][1], e.getValue()[0], e.getValue()[1]));
        }
        if (deltas.isEmpty()) {
            throw new IllegalArgumentException(file + " holds no delta");
        }
        return new Overlay(name, deltas, sha);
    }

    public static String sha256(Path file) throws IOException {
        return sha256(List.of(file));
    }

    /** The sha256 of the files' bytes, one after the other. */
    static String sha256(List<Path> files) throws IOException {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 16];
            for (Path f : files) {
                try (var in = Files.newInputStream(f)) {
                    int n;
                    while ((n = in.read(buf)) > 0) {
                        md.update(buf, 0, n);
                    }
                }
            }
            return java.util.HexFormat.of().formatHex(md.digest());
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
