package io.boundless.inference;

import io.boundless.engine.model.DeltaVersion;
import io.boundless.engine.model.ModelConfig;
import io.boundless.engine.model.Overlay;
import io.grpc.Status;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The delta versions this replica serves over its base weights, loaded from the model store on their first request
 * and kept (least recently used first out past the limit). A delta is accepted only if its manifest names weights
 * whose sha256 equals this replica's ({@link DeltaVersion#weightsSha256}): an edit of other weights, even of a model
 * with the same name, is refused.
 */
public final class Overlays {
    private final Path store;
    private final Path base;
    private final ModelConfig config;
    private final int max;
    private final Map<String, Overlay> loaded = new LinkedHashMap<>(16, 0.75f, true);
    private String baseSha;

    /**
     * @param store the model store the delta versions are in (null: this replica serves no delta)
     * @param base  this replica's model (file or directory)
     */
    public Overlays(Path store, Path base, ModelConfig config, int max) {
        this.store = store;
        this.base = base;
        this.config = config;
        this.max = max;
    }

    /** The overlay of a delta version; null for "" (the base). Errors are gRPC statuses naming the problem. */
    public synchronized Overlay get(String source) {
        if (source == null || source.isEmpty()) {
            return null;
        }
        Overlay o = loaded.get(source);
        if (o != null) {
            return o;
        }
        if (!DeltaVersion.isDelta(source)) {
            throw Status.INVALID_ARGUMENT.withDescription("version " + source + " is not a delta version (<model>/<base>+<edit>)").asRuntimeException();
        }
        if (store == null || base == null) {
            throw Status.FAILED_PRECONDITION.withDescription("this replica has no model store to load delta versions from").asRuntimeException();
        }
        Path dir = store.resolve(source).normalize();
        if (!dir.startsWith(store.normalize()) || !Files.isDirectory(dir)) {
            throw Status.NOT_FOUND.withDescription("no delta version " + source + " in the model store").asRuntimeException();
        }
        try {
            DeltaVersion.Manifest m = DeltaVersion.read(dir);
            if (baseSha == null) {
                baseSha = DeltaVersion.weightsSha256(base);
            }
            if (!baseSha.equals(m.baseWeightsSha256())) {
                throw Status.FAILED_PRECONDITION.withDescription("delta version " + source + " was made from other weights (base " + m.base()
                        + ", weights sha256 " + m.baseWeightsSha256() + ") than this replica serves (" + baseSha + ")").asRuntimeException();
            }
            o = Overlay.read(source, dir.resolve(DeltaVersion.DELTA), config);
        } catch (IOException | IllegalArgumentException e) {
            throw Status.FAILED_PRECONDITION.withDescription("delta version " + source + " cannot be served: " + e.getMessage()).asRuntimeException();
        }
        loaded.put(source, o);
        while (loaded.size() > max) {
            loaded.remove(loaded.keySet().iterator().next());
        }
        return o;
    }

    public synchronized List<String> loaded() {
        return List.copyOf(loaded.keySet());
    }

    /** The model store of a model at {@code <store>/<model>/<version>}: two levels up. */
    public static Path storeOf(Path model) {
        if (model == null) {
            return null;
        }
        Path abs = model.toAbsolutePath().normalize();
        return abs.getParent() == null || abs.getParent().getParent() == null ? null : abs.getParent().getParent();
    }
}
