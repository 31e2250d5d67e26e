package io.boundless.router.rollout;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Picks the version a request goes to, by weight. With a stickiness key (the OpenAI {@code user} field, or a session
 * header) the choice is a function of the key, so a conversation stays on one version; and as the first version's
 * weight grows (a canary listed first), every key that was on it stays on it: the canary's range of the hash space
 * only widens. Without a key, a weighted draw.
 */
public final class VersionSelector {
    /** A version and its weight (0 to 100; the weights need not add up to 100: they are shares of their sum). */
    public record Weighted(String version, int weight) {
        public Weighted {
            if (weight < 0) {
                throw new IllegalArgumentException("version " + version + ": a weight is >= 0, not " + weight);
            }
        }
    }

    private static final long BUCKETS = 1L << 32;
    private final List<Weighted> versions;
    private final long total;
    private final SplittableRandom random = new SplittableRandom();

    public VersionSelector(List<Weighted> versions) {
        this.versions = List.copyOf(versions);
        this.total = this.versions.stream().mapToLong(Weighted::weight).sum();
        if (total <= 0) {
            throw new IllegalArgumentException("at least one version needs a weight above 0: " + versions);
        }
    }

    public List<Weighted> versions() {
        return versions;
    }

    /** The version for this request: sticky by key when there is one. */
    public String select(String stickinessKey) {
        double u;
        if (stickinessKey == null || stickinessKey.isEmpty()) {
            synchronized (random) {
                u = random.nextDouble();
            }
        } else {
            u = (hash(stickinessKey) & (BUCKETS - 1)) / (double) BUCKETS;
        }
        double at = u * total;
        long cumulative = 0;
        for (Weighted w : versions) {
            cumulative += w.weight();
            if (at < cumulative) {
                return w.version();
            }
        }
        return versions.stream().filter(w -> w.weight() > 0).reduce((a, b) -> b).orElseThrow().version();
    }

    private static long hash(String key) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8));
            long h = 0;
            for (int i = 0; i < 8; i++) {
                h = (h << 8) | (d[i] & 0xff);
            }
            return h;
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
