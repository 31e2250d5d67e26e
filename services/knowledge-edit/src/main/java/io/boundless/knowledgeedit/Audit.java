package io.boundless.knowledgeedit;

import io.boundless.proto.AuditLog;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The audit log of edits, on the platform's {@link AuditLog} (one JSON object per line: time, service, who, action,
 * target — the edit's id —, outcome, details), appended and flushed per entry. It holds the facts written (subject and
 * new object), methods, metrics and published files; never a key or a prompt.
 */
public final class Audit {
    private final AuditLog log;

    public Audit(Path file) throws IOException {
        Files.createDirectories(file.toAbsolutePath().getParent());
        this.log = new AuditLog(file, "knowledge-edit", o -> io.boundless.engine.format.Json.write(jsonSafe(o)));
    }

    public Path file() {
        return log.file();
    }

    /** The log itself (key reloads write to it too). */
    public AuditLog log() {
        return log;
    }

    public void write(String who, String action, String edit, Map<String, Object> details) {
        log.write(who, action, edit, action.endsWith("-failed") ? "failed" : "ok", details);
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
