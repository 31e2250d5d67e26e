package io.boundless.router.auth;

import io.boundless.proto.ApiKeys;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * Per-key quotas: requests (a token bucket: a rate, at most burst at once), tokens per minute (prompt and generated
 * tokens are charged when a request ends; a key in debt is refused until the minute's rate pays it back), and
 * concurrent requests. A key's own limits (its line in the keys file) replace the defaults; 0 is unlimited.
 * Refusals are {@link Exceeded} with the seconds to wait, which the APIs send as Retry-After.
 */
public final class Quotas {
    /** The defaults: requests per second and the bucket's size, tokens per minute, concurrent requests (0: none). */
    public record Defaults(double requestsPerSecond, int burst, long tokensPerMinute, int streams) {}

    /** A refusal: what limit, and the seconds until a retry can pass. */
    public static final class Exceeded extends RuntimeException {
        public final long retryAfterSeconds;

        Exceeded(String message, long retryAfterSeconds) {
            super(message, null, false, false);
            this.retryAfterSeconds = retryAfterSeconds;
        }

        public StatusRuntimeException status() {
            return Status.RESOURCE_EXHAUSTED.withDescription(getMessage()).asRuntimeException();
        }
    }

    private final Defaults defaults;
    private final LongSupplier nanoClock;
    private final Map<String, Bucket> requests = new ConcurrentHashMap<>();
    private final Map<String, Bucket> tokens = new ConcurrentHashMap<>();
    private final Map<String, int[]> streams = new ConcurrentHashMap<>();

    public Quotas(Defaults defaults, LongSupplier nanoClock) {
        this.defaults = defaults;
        this.nanoClock = nanoClock;
    }

    /** A bucket refilled at rate per second up to capacity; its level may go below zero (a debt). */
    private static final class Bucket {
        double level;
        long at;
        double rate;
        double capacity;

        Bucket(double capacity, double rate, long now) {
            this.level = capacity;
            this.capacity = capacity;
            this.rate = rate;
            this.at = now;
        }

        /** Brings the level to now; a changed limit applies from now (a raised one adds its difference). */
        void refill(long now, double capacity, double rate) {
            level = Math.min(this.capacity, level + (now - at) / 1e9 * this.rate);
            if (capacity != this.capacity) {
                level = Math.min(capacity, level + Math.max(0, capacity - this.capacity));
                this.capacity = capacity;
            }
            this.rate = rate;
            at = now;
        }

        long secondsUntil(double wanted) {
            return Math.max(1, (long) Math.ceil((wanted - level) / rate));
        }
    }

    private double requestRate(ApiKeys.Limits l) {
        return l.requestsPerMinute() >= 0 ? l.requestsPerMinute() / 60 : defaults.requestsPerSecond();
    }

    private long tokensPerMinute(ApiKeys.Limits l) {
        return l.tokensPerMinute() >= 0 ? l.tokensPerMinute() : defaults.tokensPerMinute();
    }

    private int streamLimit(ApiKeys.Limits l) {
        return l.streams() >= 0 ? l.streams() : defaults.streams();
    }

    /** Takes one request from the key's bucket, or throws Exceeded. */
    public void takeRequest(String key, ApiKeys.Limits limits) {
        double rate = requestRate(limits);
        if (rate <= 0) {
            return;
        }
        double capacity = Math.max(1, defaults.burst());
        long now = nanoClock.getAsLong();
        Bucket b = requests.computeIfAbsent(key, k -> new Bucket(capacity, rate, now));
        synchronized (b) {
            b.refill(now, capacity, rate);
            if (b.level >= 1) {
                b.level -= 1;
                return;
            }
            long wait = b.secondsUntil(1);
            throw new Exceeded("rate limit of " + describeRate(limits) + " (burst " + (int) capacity + ") reached for key '" + key + "'; retry in "
                    + wait + " s", wait);
        }
    }

    private String describeRate(ApiKeys.Limits l) {
        return l.requestsPerMinute() >= 0 ? fmt(l.requestsPerMinute()) + " requests/min" : fmt(defaults.requestsPerSecond()) + " requests/s";
    }

    private static String fmt(double d) {
        return d == Math.rint(d) ? String.valueOf((long) d) : String.valueOf(d);
    }

    /** A request admitted under a key's token and concurrency quotas; release it once, with the tokens it used. */
    public final class Lease {
        private final String key;
        private final ApiKeys.Limits limits;
        private final boolean counted;
        private boolean released;

        private Lease(String key, ApiKeys.Limits limits, boolean counted) {
            this.key = key;
            this.limits = limits;
            this.counted = counted;
        }

        /** Ends the request: frees its concurrency slot and charges tokens to the key's minute. */
        public synchronized void release(long tokensUsed) {
            if (released) {
                return;
            }
            released = true;
            if (counted) {
                int[] n = streams.get(key);
                synchronized (n) {
                    n[0]--;
                }
            }
            long tpm = tokensPerMinute(limits);
            if (tpm > 0 && tokensUsed > 0) {
                long now = nanoClock.getAsLong();
                Bucket b = tokens.computeIfAbsent(key, k -> new Bucket(tpm, tpm / 60.0, now));
                synchronized (b) {
                    b.refill(now, tpm, tpm / 60.0);
                    b.level -= tokensUsed;
                }
            }
        }
    }

    /** Admits a request for key: refused while its tokens per minute are spent or its concurrent requests at the limit. */
    public Lease admit(String key, ApiKeys.Limits limits) {
        long tpm = tokensPerMinute(limits);
        if (tpm > 0) {
            long now = nanoClock.getAsLong();
            Bucket b = tokens.computeIfAbsent(key, k -> new Bucket(tpm, tpm / 60.0, now));
            synchronized (b) {
                b.refill(now, tpm, tpm / 60.0);
                if (b.level <= 0) {
                    long wait = b.secondsUntil(1);
                    throw new Exceeded("token limit of " + tpm + " tokens/min reached for key '" + key + "' (" + (long) Math.ceil(-b.level)
                            + " tokens over); retry in " + wait + " s", wait);
                }
            }
        }
        int limit = streamLimit(limits);
        if (limit <= 0) {
            return new Lease(key, limits, false);
        }
        int[] n = streams.computeIfAbsent(key, k -> new int[1]);
        synchronized (n) {
            if (n[0] >= limit) {
                throw new Exceeded("key '" + key + "' has " + n[0] + " requests in flight, its limit of concurrent requests; retry when one ends", 1);
            }
            n[0]++;
        }
        return new Lease(key, limits, true);
    }

    /** Requests in flight for key (those counted against a concurrency limit). */
    public int inFlight(String key) {
        int[] n = streams.get(key);
        if (n == null) {
            return 0;
        }
        synchronized (n) {
            return n[0];
        }
    }
}
