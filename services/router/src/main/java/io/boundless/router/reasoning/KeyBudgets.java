package io.boundless.router.reasoning;

import io.grpc.Metadata;
import io.grpc.Status;
import java.util.HashMap;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * Per-key limits of reasoning requests: a token bucket of generated tokens per minute (a request reserves its
 * worst case up front and gets back what it did not use) and a cap on requests running at once. Plain state
 * with an injected clock, so the limits are tested on traces.
 */
public final class KeyBudgets {
    private static final Metadata.Key<String> RETRY_AFTER = Metadata.Key.of("retry-after", Metadata.ASCII_STRING_MARSHALLER);

    private final long tokensPerMinute;
    private final int concurrent;
    private final LongSupplier nanos;
    private final Map<String, double[]> buckets = new HashMap<>();  // key -> [tokens, last refill nanos]
    private final Map<String, Integer> running = new HashMap<>();

    /** tokensPerMinute 0: no token limit; concurrent 0: no cap. */
    public KeyBudgets(long tokensPerMinute, int concurrent, LongSupplier nanos) {
        this.tokensPerMinute = tokensPerMinute;
        this.concurrent = concurrent;
        this.nanos = nanos;
    }

    /**
     * Admits a request of key that may generate up to tokens, or throws RESOURCE_EXHAUSTED (with a retry-after
     * trailer) when the key is at its limit; INVALID_ARGUMENT when the request could never fit the key's budget.
     */
    public synchronized void admit(String key, long tokens) {
        if (tokensPerMinute > 0 && tokens > tokensPerMinute) {
            throw Status.INVALID_ARGUMENT.withDescription("this request may generate " + tokens + " tokens, more than the per-key reasoning budget of "
                    + tokensPerMinute + " tokens per minute (boundless.router.reasoning.key-tokens-per-minute); lower n or sampling.max_tokens")
                    .asRuntimeException();
        }
        int now = running.getOrDefault(key, 0);
        if (concurrent > 0 && now >= concurrent) {
            throw exhausted("key '" + key + "' has " + now + " reasoning requests running, its limit (boundless.router.reasoning.key-concurrent)", 1);
        }
        if (tokensPerMinute > 0) {
            double[] b = refill(key);
            if (b[0] < tokens) {
                double perSecond = tokensPerMinute / 60.0;
                long wait = (long) Math.ceil((tokens - b[0]) / perSecond);
                throw exhausted("key '" + key + "' has " + (long) b[0] + " of its " + tokensPerMinute + " reasoning tokens per minute left and this request"
                        + " may generate " + tokens + "; retry in " + wait + " s", wait);
            }
            b[0] -= tokens;
        }
        running.put(key, now + 1);
    }

    /** A request of key ended: reserved tokens were set aside, used were generated; the rest goes back. */
    public synchronized void release(String key, long reserved, long used) {
        running.computeIfPresent(key, (k, v) -> v <= 1 ? null : v - 1);
        if (tokensPerMinute > 0 && used < reserved) {
            double[] b = refill(key);
            b[0] = Math.min(tokensPerMinute, b[0] + (reserved - used));
        }
    }

    private double[] refill(String key) {
        long t = nanos.getAsLong();
        double[] b = buckets.computeIfAbsent(key, k -> new double[] {tokensPerMinute, t});
        b[0] = Math.min(tokensPerMinute, b[0] + (t - (long) b[1]) / 60e9 * tokensPerMinute);
        b[1] = t;
        return b;
    }

    private static io.grpc.StatusRuntimeException exhausted(String message, long retryAfter) {
        Metadata trailers = new Metadata();
        trailers.put(RETRY_AFTER, Long.toString(Math.max(1, retryAfter)));
        return Status.RESOURCE_EXHAUSTED.withDescription(message).asRuntimeException(trailers);
    }
}
