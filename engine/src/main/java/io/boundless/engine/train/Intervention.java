package io.boundless.engine.train;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Changes to a forward pass for locating and editing facts (with the weights frozen): noise added to
 * chosen token embeddings (causal tracing's corruption), and vectors added to or states written over
 * a layer's output at a row (adding δ to an MLP's output is what ROME and MEMIT optimize; writing a
 * clean run's state back is causal tracing's restoration). Rows are indices into the batch's
 * flattened [batch · seq] tokens.
 */
public final class Intervention {
    /** Where in a layer a patch applies. */
    public enum Site {
        /** The layer's output: the residual stream after its MLP. */
        RESIDUAL,
        /** The MLP's output, before it is added to the residual stream. */
        MLP,
        /** The attention block's output (after the output projection), before it is added. */
        ATTENTION
    }

    /**
     * @param add true: value is added (its gradient flows); false: value replaces the state (forward only)
     */
    public record Patch(Site site, int layer, int row, float[] value, boolean add) {}

    final Map<Integer, float[]> embeddingNoise = new LinkedHashMap<>();
    final List<Patch> patches = new ArrayList<>();

    /** Adds noise (a vector of hidden size) to the embedding of the token at row. */
    public Intervention noise(int row, float[] noise) {
        embeddingNoise.put(row, noise);
        return this;
    }

    /** Adds delta to site's output at (layer, row). */
    public Intervention add(Site site, int layer, int row, float[] delta) {
        patches.add(new Patch(site, layer, row, delta, true));
        return this;
    }

    /** Writes state over site's output at (layer, row) (a state restored from a clean run). */
    public Intervention restore(Site site, int layer, int row, float[] state) {
        patches.add(new Patch(site, layer, row, state, false));
        return this;
    }

    boolean replaces() {
        return patches.stream().anyMatch(p -> !p.add());
    }

    void apply(Site site, int layer, float[] x, int hidden) {
        for (Patch p : patches) {
            if (p.site() == site && p.layer() == layer) {
                int o = p.row() * hidden;
                for (int i = 0; i < hidden; i++) {
                    x[o + i] = p.add() ? x[o + i] + p.value()[i] : p.value()[i];
                }
            }
        }
    }
}
