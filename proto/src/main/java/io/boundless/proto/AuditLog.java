package io.boundless.proto;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The audit log of admin actions (rollouts, edits, key changes): one JSON object per line — time, service, who (a key
 * name), action, target, outcome, details — appended and flushed per entry, and the same line on the
 * {@code boundless.audit} logger. Callers put names, ids and figures in it; never a prompt or a key.
 */
public final class AuditLog {
    private static final System.Logger LOG = System.getLogger("boundless.audit");
    private final Path file;
    private final String service;
    private final java.util.function.Function<Object, String> json;

    /** An audit log appended to file (null: the log only); json writes an entry's map as one line (the engine's Json.write). */
    public AuditLog(Path file, String service, java.util.function.Function<Object, String> json) {
        this.file = file;
        this.service = service;
        this.json = json;
        if (file != null) {
            try {
                Path parent = file.toAbsolutePath().getParent();
                if (parent != null) {
                    Files.createDirectories(parent);
                }
            } catch (IOException e) {
                throw new IllegalArgumentException("cannot create the audit log's directory for " + file + ": " + e.getMessage(), e);
            }
        }
    }

    public Path file() {
        return file;
    }

    /** Writes one entry; outcome is "ok" or what went wrong. */
    public synchronized void write(String who, String action, String target, String outcome, Map<String, ?> details) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("time", Instant.now().toString());
        m.put("service", service);
        m.put("who", who);
        m.put("action", action);
        m.put("target", target);
        m.put("outcome", outcome);
        if (details != null) {
            m.putAll(details);
        }
        String line = json.apply(m);
        LOG.log(System.Logger.Level.INFO, line);
        if (file != null) {
            try {
                Files.writeString(file, line + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND, StandardOpenOption.WRITE);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write the audit log " + file, e);
            }
        }
    }
}
