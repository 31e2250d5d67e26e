package io.boundless.proto;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;

/**
 * API keys, stored hashed: a file of {@code <name>:<sha256 hex of the key>} lines, each optionally followed by its
 * scopes ({@code ops:3f9a... admin,inference}; without: {@code inference}). A presented key is hashed and looked
 * up; the key itself is never stored. (In a cluster the same file comes from a Kubernetes Secret.)
 */
public final class ApiKeys {
    /** What a key may do: inference (generate, chat, list models), admin (deployments and rollouts). */
    public static final java.util.Set<String> SCOPES = java.util.Set.of("inference", "admin");

    private final Map<String, String> nameByHash;
    private final Map<String, java.util.Set<String>> scopesByHash;

    private ApiKeys(Map<String, String> nameByHash, Map<String, java.util.Set<String>> scopesByHash) {
        this.nameByHash = nameByHash;
        this.scopesByHash = scopesByHash;
    }

    public static ApiKeys load(Path file) {
        Map<String, String> m = new HashMap<>();
        Map<String, java.util.Set<String>> scopes = new HashMap<>();
        try {
            int line = 0;
            for (String l : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                line++;
                String s = l.strip();
                if (s.isEmpty() || s.startsWith("#")) {
                    continue;
                }
                String[] parts = s.split("\\s+", 2);
                String entry = parts[0];
                int colon = entry.lastIndexOf(':');
                String hash = entry.substring(colon + 1).toLowerCase(java.util.Locale.ROOT);
                if (colon <= 0 || !hash.matches("[0-9a-f]{64}")) {
                    throw new IllegalArgumentException(file + " line " + line + ": expected <name>:<64 hex digits of sha256(key)> [scopes]");
                }
                java.util.Set<String> these = new java.util.TreeSet<>();
                for (String scope : (parts.length > 1 ? parts[1] : "inference").split("[,\\s]+")) {
                    if (!SCOPES.contains(scope)) {
                        throw new IllegalArgumentException(file + " line " + line + ": a scope is inference or admin, not '" + scope + "'");
                    }
                    these.add(scope);
                }
                m.put(hash, entry.substring(0, colon));
                scopes.put(hash, java.util.Set.copyOf(these));
            }
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read the API keys file " + file + ": " + e.getMessage(), e);
        }
        return new ApiKeys(Map.copyOf(m), Map.copyOf(scopes));
    }

    /**
     * The name of the key in an Authorization value ("Bearer <key>" or the key), checked for scope: UNAUTHENTICATED
     * without a key or with an unknown one, PERMISSION_DENIED without the scope; each with a message that says so.
     */
    public String authorize(String authorization, String scope) {
        String key = authorization == null ? null : authorization.strip();
        if (key != null && key.regionMatches(true, 0, "Bearer ", 0, 7)) {
            key = key.substring(7).strip();
        }
        if (key == null || key.isEmpty()) {
            throw io.grpc.Status.UNAUTHENTICATED.withDescription("an API key is required: send 'Authorization: Bearer <key>'").asRuntimeException();
        }
        String name = nameOf(key);
        if (name == null) {
            throw io.grpc.Status.UNAUTHENTICATED.withDescription("the API key is not valid").asRuntimeException();
        }
        if (!scopesOf(key).contains(scope)) {
            throw io.grpc.Status.PERMISSION_DENIED.withDescription("the API key '" + name + "' has no " + scope + " scope (it has "
                    + String.join(", ", scopesOf(key)) + ")").asRuntimeException();
        }
        return name;
    }

    /** The key's name, or null for an unknown key. */
    public String nameOf(String key) {
        return key == null ? null : nameByHash.get(sha256(key));
    }

    /** The key's scopes (empty for an unknown key). */
    public java.util.Set<String> scopesOf(String key) {
        return key == null ? java.util.Set.of() : scopesByHash.getOrDefault(sha256(key), java.util.Set.of());
    }

    public int size() {
        return nameByHash.size();
    }

    public static String sha256(String key) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
