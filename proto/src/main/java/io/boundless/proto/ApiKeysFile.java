package io.boundless.proto;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ScheduledExecutorService;

/**
 * An API keys file that is read again when it changes, without a restart: checked every interval (a Kubernetes
 * Secret's volume swaps its files in place; a local file is edited), compared by content. A file that no longer
 * parses, or cannot be read, leaves the keys as they were (logged, counted in {@link #failedReloads()}); each change
 * that takes goes to the audit log as names added, removed, rotated and changed — never a key or a hash.
 */
public final class ApiKeysFile implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(ApiKeysFile.class.getName());
    private final Path file;
    private final AuditLog audit;
    private volatile ApiKeys keys;
    private volatile String lastText;
    private volatile String lastError;
    private volatile long failedReloads;
    private ScheduledExecutorService timer;
    /** How long a changed file must stay the same to be taken. */
    private static final long SETTLE_NANOS = 50_000_000;

    /** Loads file now (an error if it cannot be read or parsed: a service does not start on a bad keys file). */
    public ApiKeysFile(Path file, AuditLog audit) {
        this.file = file;
        this.audit = audit;
        String text = read();
        this.keys = ApiKeys.parse(text, file.toString());
        this.lastText = text;
    }

    private String read() {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read the API keys file " + file + ": "
                    + (e instanceof java.nio.file.NoSuchFileException ? "no such file" : e.getMessage()), e);
        }
    }

    public Path file() {
        return file;
    }

    public ApiKeys current() {
        return keys;
    }

    /** Checks the file every interval from now on, on a daemon thread. */
    public synchronized void watch(Duration interval) {
        if (timer == null) {
            timer = FileWatch.every("api-keys-reload", interval, this::reload);
        }
    }

    /** Reads the file again; true when it changed and took. */
    public synchronized boolean reload() {
        String text;
        try {
            text = read();
        } catch (IllegalArgumentException e) {
            fail(e.getMessage());
            return false;
        }
        if (text.equals(lastText)) {
            return false;
        }
        // a file caught while it is written (truncated, then filled: an editor, a shell redirect) would read as fewer
        // keys or none: a change is taken only when a second read a moment later finds the same content
        java.util.concurrent.locks.LockSupport.parkNanos(SETTLE_NANOS);
        try {
            if (!read().equals(text)) {
                return false;  // still changing: the next check takes it
            }
        } catch (IllegalArgumentException e) {
            return false;
        }
        ApiKeys next;
        try {
            next = ApiKeys.parse(text, file.toString());
        } catch (IllegalArgumentException e) {
            fail(e.getMessage());
            lastText = text;  // reported once, not every interval; a fixed file is read again
            return false;
        }
        Map<String, List<String>> changes = ApiKeys.changes(keys, next);
        keys = next;
        lastText = text;
        lastError = null;
        LOG.log(System.Logger.Level.INFO, "API keys reloaded from " + file + ": " + next.size() + " keys " + changes);
        if (audit != null) {
            audit.write("keys-file", "reload-keys", file.getFileName().toString(), "ok", Map.of("keys", next.size(), "changes", changes));
        }
        return true;
    }

    private void fail(String why) {
        failedReloads++;
        if (!why.equals(lastError)) {
            LOG.log(System.Logger.Level.ERROR, "the API keys file did not reload; the " + keys.size() + " keys loaded before stay in force: " + why);
            if (audit != null) {
                audit.write("keys-file", "reload-keys", file.getFileName().toString(), "refused: " + why, Map.of("keys", keys.size()));
            }
        }
        lastError = why;
    }

    /** Why the last reload was refused (null: it was not). */
    public String lastError() {
        return lastError;
    }

    public long failedReloads() {
        return failedReloads;
    }

    @Override
    public synchronized void close() {
        if (timer != null) {
            timer.shutdownNow();
            timer = null;
        }
    }
}
