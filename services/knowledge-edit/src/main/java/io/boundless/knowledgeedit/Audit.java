package io.boundless.knowledgeedit;

import io.boundless.engine.format.Json;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The audit log of edits: one JSON object per line (time, who, action, edit, details), appended and flushed per
 * entry. It holds the facts written (subject and new object), methods, metrics and published files; never a key.
 */
public final class Audit {
    private final Path file;

    public Audit(Path file) throws IOException {
        this.file = file;
        Files.createDirectories(file.toAbsolutePath().getParent());
    }

    public Path file() {
        return file;
    }

    public synchronized void write(String who, String action, String edit, Map<String, Object> details) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("time", java.time.Instant.now().toString());
        m.put("who", who);
        m.put("action", action);
        m.put("edit", edit);
        m.putAll(details);
        try {
            Files.writeString(file, Json.write(jsonSafe(m)) + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND,
                    StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("cannot write the audit log " + file, e);
        }
    }

    /** o with every NaN or infinite double (an unmeasured score) as null: JSON has no NaN. */
    @SuppressWarnings("unchecked")
    static Object jsonSafe(Object o) {
        if (o instanceof Double d && (d.isNaN() || d.isInfinite())) {
            return null;
        }
        if (o instanceof Map<?, ?> m) {
            Map<String, Object> out = new LinkedHashMap<>();
            ((Map<String, Object>) m).forEach((k, v) -> out.put(k, jsonSafe(v)));
            return out;
        }
        if (o instanceof java.util.List<?> l) {
            return l.stream().map(Audit::jsonSafe).toList();
        }
        return o;
    }
}
