package io.boundless.router.auth;

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
 * API keys, stored hashed: a file of {@code <name>:<sha256 hex of the key>} lines. A presented key is
 * hashed and looked up; the key itself is never stored. (In a cluster the same file comes from a
 * Kubernetes Secret.)
 */
public final class ApiKeys {
    private final Map<String, String> nameByHash;

    private ApiKeys(Map<String, String> nameByHash) {
        this.nameByHash = nameByHash;
    }

    public static ApiKeys load(Path file) {
        Map<String, String> m = new HashMap<>();
        try {
            int line = 0;
            for (String l : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                line++;
                String s = l.strip();
                if (s.isEmpty() || s.startsWith("#")) {
                    continue;
                }
                int colon = s.lastIndexOf(':');
                String hash = s.substring(colon + 1).toLowerCase(java.util.Locale.ROOT);
                if (colon <= 0 || !hash.matches("[0-9a-f]{64}")) {
                    throw new IllegalArgumentException(file + " line " + line + ": expected <name>:<64 hex digits of sha256(key)>");
                }
                m.put(hash, s.substring(0, colon));
            }
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read the API keys file " + file + ": " + e.getMessage(), e);
        }
        return new ApiKeys(Map.copyOf(m));
    }

    /** The key's name, or null for an unknown key. */
    public String nameOf(String key) {
        return key == null ? null : nameByHash.get(sha256(key));
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
