package io.boundless.proto;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * API keys, stored hashed: a file of {@code <name>:<sha256 hex of the key>} lines, each optionally followed by its
 * scopes ({@code ops:3f9a... admin,inference}; without: {@code inference}) and its own limits
 * ({@code rpm=600 tpm=100000 streams=8}: requests and tokens per minute, concurrent requests; unset: the service's
 * defaults, 0: unlimited). A presented key is hashed and looked up; the key itself is never stored.
 * (In a cluster the same file comes from a Kubernetes Secret.)
 */
public final class ApiKeys {
    /** What a key may do: inference (generate, chat, list models), admin (deployments, rollouts, edits). */
    public static final Set<String> SCOPES = Set.of("inference", "admin");

    /** A key's own limits; -1: the service's default, 0: unlimited. */
    public record Limits(double requestsPerMinute, long tokensPerMinute, int streams) {
        public static final Limits DEFAULT = new Limits(-1, -1, -1);

        @Override
        public String toString() {
            List<String> s = new ArrayList<>();
            if (requestsPerMinute >= 0) {
                s.add("rpm=" + (requestsPerMinute == Math.rint(requestsPerMinute) ? String.valueOf((long) requestsPerMinute) : String.valueOf(requestsPerMinute)));
            }
            if (tokensPerMinute >= 0) {
                s.add("tpm=" + tokensPerMinute);
            }
            if (streams >= 0) {
                s.add("streams=" + streams);
            }
            return String.join(" ", s);
        }
    }

    /** One key: its name, the hash it is found by, its scopes and its limits. */
    public record Key(String name, String hash, Set<String> scopes, Limits limits) {}

    private final Map<String, Key> byHash;
    private final Map<String, Key> byName = new java.util.TreeMap<>();

    private ApiKeys(Map<String, Key> byHash) {
        this.byHash = byHash;
        byHash.values().forEach(k -> byName.put(k.name(), k));
    }

    public static ApiKeys load(Path file) {
        try {
            return parse(Files.readString(file, StandardCharsets.UTF_8), file.toString());
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read the API keys file " + file + ": " + e.getMessage(), e);
        }
    }

    /** Parses a keys file's text; where names it in errors. */
    public static ApiKeys parse(String text, String where) {
        Map<String, Key> m = new LinkedHashMap<>();
        Set<String> names = new java.util.HashSet<>();
        int line = 0;
        for (String l : text.split("\n", -1)) {
            line++;
            String s = l.strip();
            if (s.isEmpty() || s.startsWith("#")) {
                continue;
            }
            String[] parts = s.split("\\s+");
            String entry = parts[0];
            int colon = entry.lastIndexOf(':');
            String hash = entry.substring(colon + 1).toLowerCase(Locale.ROOT);
            if (colon <= 0 || !hash.matches("[0-9a-f]{64}")) {
                throw new IllegalArgumentException(where + " line " + line + ": expected <name>:<64 hex digits of sha256(key)> [scopes] [rpm=N tpm=N streams=N]");
            }
            String name = entry.substring(0, colon);
            if (!names.add(name)) {
                throw new IllegalArgumentException(where + " line " + line + ": the name '" + name + "' is given twice");
            }
            if (m.containsKey(hash)) {
                throw new IllegalArgumentException(where + " line " + line + ": the key of '" + name + "' is also the key of '" + m.get(hash).name() + "'");
            }
            Set<String> scopes = new TreeSet<>();
            double rpm = -1;
            long tpm = -1;
            int streams = -1;
            for (int i = 1; i < parts.length; i++) {
                String p = parts[i];
                int eq = p.indexOf('=');
                if (eq < 0) {
                    for (String scope : p.split(",")) {
                        if (scope.isEmpty()) {
                            continue;
                        }
                        if (!SCOPES.contains(scope)) {
                            throw new IllegalArgumentException(where + " line " + line + ": a scope is inference or admin, not '" + scope + "'");
                        }
                        scopes.add(scope);
                    }
                    continue;
                }
                String k = p.substring(0, eq);
                String v = p.substring(eq + 1);
                try {
                    switch (k) {
                        case "rpm" -> rpm = nonNegative(Double.parseDouble(v), k);
                        case "tpm" -> tpm = (long) nonNegative(Long.parseLong(v), k);
                        case "streams" -> streams = (int) nonNegative(Integer.parseInt(v), k);
                        default -> throw new IllegalArgumentException("a limit is rpm, tpm or streams, not '" + k + "'");
                    }
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException(where + " line " + line + ": " + k + " takes a number, not '" + v + "'");
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(where + " line " + line + ": " + e.getMessage());
                }
            }
            if (scopes.isEmpty()) {
                scopes.add("inference");
            }
            m.put(hash, new Key(name, hash, Set.copyOf(scopes), new Limits(rpm, tpm, streams)));
        }
        return new ApiKeys(java.util.Collections.unmodifiableMap(m));
    }

    private static double nonNegative(double v, String what) {
        if (!(v >= 0) || Double.isInfinite(v)) {
            throw new IllegalArgumentException(what + " is a number of at least 0, not " + v);
        }
        return v;
    }

    /**
     * The key in an Authorization value ("Bearer <key>" or the key), checked for scope: UNAUTHENTICATED without a
     * key or with an unknown one, PERMISSION_DENIED without the scope; each with a message that says so.
     */
    public Key check(String authorization, String scope) {
        String key = authorization == null ? null : authorization.strip();
        if (key != null && key.regionMatches(true, 0, "Bearer ", 0, 7)) {
            key = key.substring(7).strip();
        }
        if (key == null || key.isEmpty()) {
            throw io.grpc.Status.UNAUTHENTICATED.withDescription("an API key is required: send 'Authorization: Bearer <key>'").asRuntimeException();
        }
        Key k = byHash.get(sha256(key));
        if (k == null) {
            throw io.grpc.Status.UNAUTHENTICATED.withDescription("the API key is not valid").asRuntimeException();
        }
        if (!k.scopes().contains(scope)) {
            throw io.grpc.Status.PERMISSION_DENIED.withDescription("the API key '" + k.name() + "' has no " + scope + " scope (it has "
                    + String.join(", ", new TreeSet<>(k.scopes())) + ")").asRuntimeException();
        }
        return k;
    }

    /** As {@link #check}, giving the key's name. */
    public String authorize(String authorization, String scope) {
        return check(authorization, scope).name();
    }

    /** The key's name, or null for an unknown key. */
    public String nameOf(String key) {
        Key k = key == null ? null : byHash.get(sha256(key));
        return k == null ? null : k.name();
    }

    /** The key's scopes (empty for an unknown key). */
    public Set<String> scopesOf(String key) {
        Key k = key == null ? null : byHash.get(sha256(key));
        return k == null ? Set.of() : k.scopes();
    }

    public int size() {
        return byHash.size();
    }

    /** The keys by name. */
    public Map<String, Key> byName() {
        return java.util.Collections.unmodifiableMap(byName);
    }

    /** The limits of the key named name (the defaults for an unknown name). */
    public Limits limitsOf(String name) {
        Key k = byName.get(name);
        return k == null ? Limits.DEFAULT : k.limits();
    }

    /**
     * What changed from before to after, by key name, for the audit log: added, removed, rotated (a new key under the
     * same name), and changed scopes or limits. Hashes are not in it.
     */
    public static Map<String, List<String>> changes(ApiKeys before, ApiKeys after) {
        Map<String, Key> b = before == null ? Map.of() : before.byName();
        Map<String, Key> a = after.byName();
        List<String> added = new ArrayList<>();
        List<String> removed = new ArrayList<>();
        List<String> rotated = new ArrayList<>();
        List<String> changed = new ArrayList<>();
        for (var e : a.entrySet()) {
            Key old = b.get(e.getKey());
            Key now = e.getValue();
            if (old == null) {
                added.add(now.name());
                continue;
            }
            if (!old.hash().equals(now.hash())) {
                rotated.add(now.name());
            }
            if (!old.scopes().equals(now.scopes()) || !old.limits().equals(now.limits())) {
                changed.add(now.name() + " (" + String.join(",", new TreeSet<>(now.scopes())) + (now.limits().equals(Limits.DEFAULT) ? "" : " " + now.limits()) + ")");
            }
        }
        for (String n : b.keySet()) {
            if (!a.containsKey(n)) {
                removed.add(n);
            }
        }
        Map<String, List<String>> m = new LinkedHashMap<>();
        m.put("added", added);
        m.put("removed", removed);
        m.put("rotated", rotated);
        m.put("changed", changed);
        return m;
    }

    public static String sha256(String key) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
