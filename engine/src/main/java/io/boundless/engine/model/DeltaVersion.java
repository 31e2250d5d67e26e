package io.boundless.engine.model;

import io.boundless.engine.format.Json;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * An edited model version in the model store: {@code <store>/<model>/<base>+<edit>/} holding only what changed —
 * {@code delta.safetensors} (an {@link Overlay}), {@code manifest.json} and {@code SHA256SUMS} — beside the base
 * version {@code <store>/<model>/<base>/} whose weights it is served over.
 *
 * <p>The manifest names the base version and the sha256 of its weights ({@link #weightsSha256}), so a replica
 * refuses a delta written for other weights; it also records the method, hyperparameters, requests, metrics, author
 * and time, and every file's sha256.
 */
public final class DeltaVersion {
    public static final String DELTA = "delta.safetensors";
    public static final String MANIFEST = "manifest.json";
    /** <model>/<base>+<edit>: each part a name of letters, digits, '.', '_' and '-'. */
    public static final Pattern SOURCE = Pattern.compile("([A-Za-z0-9][A-Za-z0-9._-]*)/([A-Za-z0-9][A-Za-z0-9._-]*)\\+([A-Za-z0-9][A-Za-z0-9._-]*)");

    private DeltaVersion() {}

    /** Whether a model-store source names a delta version. */
    public static boolean isDelta(String source) {
        return source != null && SOURCE.matcher(source).matches();
    }

    /** The base version's source of a delta version's ({@code boundless-world/1+e3} → {@code boundless-world/1}). */
    public static String baseOf(String source) {
        var m = SOURCE.matcher(source);
        if (!m.matches()) {
            throw new IllegalArgumentException(source + " is not a delta version (<model>/<base>+<edit>)");
        }
        return m.group(1) + "/" + m.group(2);
    }

    /** The parsed manifest (its JSON object as read). */
    public record Manifest(Map<String, Object> json) {
        public String base() {
            return (String) json.get("base");
        }

        public String baseWeightsSha256() {
            return (String) json.get("base_weights_sha256");
        }

        @SuppressWarnings("unchecked")
        public Map<String, String> files() {
            return (Map<String, String>) json.getOrDefault("files", Map.of());
        }
    }

    /**
     * Writes a version directory atomically (a temporary sibling renamed into place): the delta, the manifest with
     * the files' sha256 added, and SHA256SUMS. Refused if the directory exists.
     */
    public static Path write(Path store, String source, Architecture arch, List<Overlay.LowRank> deltas, Map<String, Object> manifest)
            throws IOException {
        if (!isDelta(source)) {
            throw new IllegalArgumentException(source + " is not a delta version name (<model>/<base>+<edit>)");
        }
        Path dir = store.resolve(source).normalize();
        if (!dir.startsWith(store.normalize())) {
            throw new IllegalArgumentException(source + " leaves the model store");
        }
        if (Files.exists(dir)) {
            throw new java.nio.file.FileAlreadyExistsException(dir + " exists: a version is never overwritten");
        }
        Path tmp = dir.resolveSibling("." + dir.getFileName() + ".tmp-" + ProcessHandle.current().pid());
        deleteTree(tmp);
        Files.createDirectories(tmp);
        try {
            String deltaSha = Overlay.write(tmp.resolve(DELTA), arch, deltas, Map.of("format", "boundless-delta", "version", source));
            Map<String, Object> m = new LinkedHashMap<>(manifest);
            m.put("version", source);
            m.put("files", Map.of(DELTA, deltaSha));
            byte[] json = Json.write(m).getBytes(StandardCharsets.UTF_8);
            Files.write(tmp.resolve(MANIFEST), json);
            String manifestSha = sha256(json);
            Files.writeString(tmp.resolve("SHA256SUMS"), deltaSha + "  " + DELTA + "\n" + manifestSha + "  " + MANIFEST + "\n");
            Files.move(tmp, dir, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException e) {
            deleteTree(tmp);
            throw e;
        }
        return dir;
    }

    /** Reads and checks a version directory's manifest: it parses, names its base, and the delta's sha256 matches. */
    @SuppressWarnings("unchecked")
    public static Manifest read(Path dir) throws IOException {
        Path mf = dir.resolve(MANIFEST);
        if (!Files.isRegularFile(mf)) {
            throw new IOException(dir + " has no " + MANIFEST + ": not a delta version");
        }
        Object parsed;
        try {
            parsed = Json.parse(Files.readString(mf));
        } catch (RuntimeException e) {
            throw new IOException(mf + " is not valid JSON: " + e.getMessage());
        }
        if (!(parsed instanceof Map<?, ?> map) || !(map.get("base") instanceof String) || !(map.get("files") instanceof Map)) {
            throw new IOException(mf + " is not a delta manifest (it needs base and files)");
        }
        for (var e : ((Map<?, ?>) map.get("files")).entrySet()) {
            if (!(e.getValue() instanceof String)) {
                throw new IOException(mf + ": files." + e.getKey() + " is " + Json.write(e.getValue()) + ", not a sha256 string");
            }
        }
        if (map.get("base_weights_sha256") != null && !(map.get("base_weights_sha256") instanceof String)) {
            throw new IOException(mf + ": base_weights_sha256 is not a string");
        }
        Manifest m = new Manifest((Map<String, Object>) map);
        String want = m.files().get(DELTA);
        if (want == null) {
            throw new IOException(mf + " lists no " + DELTA);
        }
        String have = Overlay.sha256(dir.resolve(DELTA));
        if (!have.equals(want)) {
            throw new IOException(dir.resolve(DELTA) + " has sha256 " + have + ", the manifest says " + want + ": the file was changed or damaged");
        }
        return m;
    }

    /**
     * The identity of a base version's weights: the sha256 over its weight files' bytes (every top-level
     * {@code *.safetensors} or {@code *.gguf} in name order), or of the file itself for a single-file model.
     */
    public static String weightsSha256(Path model) throws IOException {
        List<Path> files = new ArrayList<>();
        if (Files.isDirectory(model)) {
            try (Stream<Path> s = Files.list(model)) {
                s.filter(p -> p.getFileName().toString().endsWith(".safetensors") || p.getFileName().toString().endsWith(".gguf")).sorted().forEach(files::add);
            }
        } else {
            files.add(model);
        }
        if (files.isEmpty()) {
            throw new IOException(model + " has no weight files");
        }
        return Overlay.sha256(files);
    }

    static String sha256(byte[] b) {
        try {
            return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(b));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Removes a directory tree (a deleted edit's version, a failed write's leftovers). */
    public static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
