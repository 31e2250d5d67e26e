package io.boundless.router.auth;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/** Per-key token buckets: rate requests per second, at most burst at once. */
public final class RateLimiter {
    private final double rate;
    private final double burst;
    private final LongSupplier nanoClock;
    private final Map<String, Bucket> buckets = new ConcurrentHashMap<>();

    private static final class Bucket {
        double tokens;
        long at;
    }

    public RateLimiter(double ratePerSecond, int burst, LongSupplier nanoClock) {
        this.rate = ratePerSecond;
        this.burst = Math.max(1, burst);
        this.nanoClock = nanoClock;
    }

    public boolean enabled() {
        return rate > 0;
    }

    /** Takes one request from the key's bucket: 0 if allowed, else the seconds until one is (at least 1). */
    public long tryAcquire(String key) {
        if (rate <= 0) {
            return 0;
        }
        long now = nanoClock.getAsLong();
        Bucket b = buckets.computeIfAbsent(key, k -> {
            Bucket n = new Bucket();
            n.tokens = burst;
            n.at = now;
            return n;
        });
        synchronized (b) {
            b.tokens = Math.min(burst, b.tokens + (now - b.at) / 1e9 * rate);
            b.at = now;
            if (b.tokens >= 1) {
                b.tokens -= 1;
                return 0;
            }
            return Math.max(1, (long) Math.ceil((1 - b.tokens) / rate));
        }
    }
}
