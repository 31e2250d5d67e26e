package io.boundless.proto;

import java.util.Arrays;
import java.util.List;

/**
 * The latency histogram that inference replicas keep and routers read (GetLoad's {@code Measurements}): fixed bucket
 * bounds from 0.5 ms to 120 s, each 10% above the one before (131 bounds), so that a p95 read from merged counts is
 * within 10% of the true one: fine enough for a canary analysis that compares p95s at a ratio of 1.25. And the
 * prompt-length buckets that time to first token is kept per.
 */
public final class LatencyHistogram {
    public static final double GROWTH = 1.1;
    private static final double[] BOUNDS = bounds();
    /** Prompt-length buckets: upper bounds (exclusive) in tokens, and their names. */
    private static final int[] PROMPT_LIMITS = {256, 1024, 4096};
    public static final List<String> PROMPT_BUCKETS = List.of("<256", "256-1023", "1024-4095", ">=4096");

    private final long[] counts = new long[BOUNDS.length + 1];

    private static double[] bounds() {
        double[] b = new double[131];
        double v = 0.5;
        for (int i = 0; i < b.length; i++) {
            b[i] = v;
            v *= GROWTH;
        }
        return b;
    }

    /** The bucket bounds in ms (a copy). */
    public static double[] boundsMillis() {
        return BOUNDS.clone();
    }

    /** The prompt-length bucket of a prompt of this many tokens. */
    public static int promptBucket(int tokens) {
        for (int i = 0; i < PROMPT_LIMITS.length; i++) {
            if (tokens < PROMPT_LIMITS[i]) {
                return i;
            }
        }
        return PROMPT_LIMITS.length;
    }

    public synchronized void record(double millis) {
        int i = Arrays.binarySearch(BOUNDS, millis);
        counts[i >= 0 ? i : -i - 1]++;
    }

    public synchronized long[] counts() {
        return counts.clone();
    }

    /**
     * The q-quantile (0 to 1) of a histogram with these bounds, interpolated linearly within its bucket (the first
     * bucket from 0; the one above the last bound reads as the last bound). NaN when the counts are empty.
     */
    public static double quantile(double[] bounds, long[] counts, double q) {
        long total = 0;
        for (long c : counts) {
            total += c;
        }
        if (total == 0) {
            return Double.NaN;
        }
        double rank = q * total;
        long below = 0;
        for (int i = 0; i < counts.length; i++) {
            if (counts[i] > 0 && below + counts[i] >= rank) {
                if (i >= bounds.length) {
                    return bounds[bounds.length - 1];
                }
                double lo = i == 0 ? 0 : bounds[i - 1];
                double hi = bounds[i];
                return lo + (hi - lo) * Math.max(0, rank - below) / counts[i];
            }
            below += counts[i];
        }
        return bounds[bounds.length - 1];
    }

    /** later - earlier, bucket by bucket; a replica that restarted in between (a count went down) counts from zero. */
    public static long[] difference(long[] later, long[] earlier) {
        long[] d = later.clone();
        if (earlier == null || earlier.length != later.length) {
            return d;
        }
        for (int i = 0; i < d.length; i++) {
            if (later[i] < earlier[i]) {
                return later.clone();
            }
            d[i] -= earlier[i];
        }
        return d;
    }

    /** a + b, bucket by bucket (b may be null or empty). */
    public static long[] sum(long[] a, long[] b) {
        if (b == null || b.length == 0) {
            return a.clone();
        }
        if (a.length == 0) {
            return b.clone();
        }
        long[] s = a.clone();
        for (int i = 0; i < s.length && i < b.length; i++) {
            s[i] += b[i];
        }
        return s;
    }
}
