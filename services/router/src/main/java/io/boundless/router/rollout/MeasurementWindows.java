package io.boundless.router.rollout;

import io.boundless.proto.LatencyHistogram;
import io.boundless.proto.inference.v1.Measurements;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A canary analysis' figures, from the inference replicas' own cumulative measurements (GetLoad's
 * {@code Measurements}), not from what one router saw: every router that reads the replicas computes the same
 * window over all of the traffic. Each reading is kept per replica with its time; a version's window is, per
 * replica of that version, the last reading minus the last one at or before the window's start (a replica that
 * started within the window counts from zero; one that restarted, whose counts went down, counts from zero too),
 * summed over the replicas, and the p95s read from the merged histograms. Readings older than the longest window
 * are dropped. Not thread-safe: the controller's thread uses it.
 */
public final class MeasurementWindows {
    private record Reading(long timeMillis, Measurements m) {}

    private record Series(String version, Deque<Reading> readings) {}

    private final Map<String, Series> replicas = new LinkedHashMap<>();
    private long keepMillis;

    public MeasurementWindows(Duration keep) {
        this.keepMillis = keep.toMillis();
    }

    /** How long readings are kept: the longest window asked for (a reading is some KiB: 30 min of them per replica is MiBs). */
    public void keep(Duration keep) {
        this.keepMillis = keep.toMillis();
    }

    /** A replica's reading at this time. */
    public void record(String replica, String version, long nowMillis, Measurements m) {
        Series s = replicas.computeIfAbsent(replica, k -> new Series(version, new ArrayDeque<>()));
        s.readings().addLast(new Reading(nowMillis, m));
        // keep one reading at or before the oldest window's start
        while (s.readings().size() > 1 && first(s, 1).timeMillis() <= nowMillis - keepMillis) {
            s.readings().removeFirst();
        }
    }

    private static Reading first(Series s, int index) {
        var it = s.readings().iterator();
        Reading r = it.next();
        for (int i = 0; i < index; i++) {
            r = it.next();
        }
        return r;
    }

    /** Forgets replicas whose last reading is older than the longest window (stopped long ago). */
    public void prune(long nowMillis) {
        replicas.values().removeIf(s -> s.readings().getLast().timeMillis() < nowMillis - keepMillis);
    }

    /** The version's figures over the window that ends now. */
    public CanaryAnalysis.Window window(String version, long nowMillis, Duration window) {
        long from = nowMillis - window.toMillis();
        long requests = 0;
        long errors = 0;
        double[] bounds = null;
        List<String> bucketNames = new ArrayList<>();
        List<long[]> ttft = new ArrayList<>();
        long[] itl = new long[0];
        for (Series s : replicas.values()) {
            if (!s.version().equals(version)) {
                continue;
            }
            Reading last = null;
            Reading base = null;
            for (Reading r : s.readings()) {
                if (r.timeMillis() <= from) {
                    base = r;
                }
                if (r.timeMillis() <= nowMillis) {
                    last = r;
                }
            }
            if (last == null || last.timeMillis() <= from) {
                continue;  // nothing from this replica in the window
            }
            Measurements l = last.m();
            Measurements b = base == null ? null : base.m();
            boolean restarted = b != null && (l.getRequests() < b.getRequests() || l.getFailed() < b.getFailed());
            if (restarted) {
                b = null;
            }
            requests += l.getRequests() - (b == null ? 0 : b.getRequests());
            errors += l.getFailed() - (b == null ? 0 : b.getFailed());
            if (bounds == null && l.getLatencyBoundsMsCount() > 0) {
                bounds = l.getLatencyBoundsMsList().stream().mapToDouble(Double::doubleValue).toArray();
            }
            for (int i = 0; i < l.getTimeToFirstTokenCount(); i++) {
                var bucket = l.getTimeToFirstToken(i);
                long[] later = counts(bucket.getCountsList());
                long[] earlier = null;
                if (b != null) {
                    for (var e : b.getTimeToFirstTokenList()) {
                        if (e.getBucket().equals(bucket.getBucket())) {
                            earlier = counts(e.getCountsList());
                        }
                    }
                }
                long[] d = LatencyHistogram.difference(later, earlier);
                int at = bucketNames.indexOf(bucket.getBucket());
                if (at < 0) {
                    bucketNames.add(bucket.getBucket());
                    ttft.add(d);
                } else {
                    ttft.set(at, LatencyHistogram.sum(ttft.get(at), d));
                }
            }
            itl = LatencyHistogram.sum(LatencyHistogram.difference(counts(l.getInterTokenCountsList()),
                    b == null ? null : counts(b.getInterTokenCountsList())), itl);
        }
        List<CanaryAnalysis.Bucket> buckets = new ArrayList<>();
        for (int i = 0; i < bucketNames.size(); i++) {
            long n = total(ttft.get(i));
            if (n > 0) {
                buckets.add(new CanaryAnalysis.Bucket(bucketNames.get(i), LatencyHistogram.quantile(bounds, ttft.get(i), 0.95), n));
            }
        }
        long itlSamples = total(itl);
        return new CanaryAnalysis.Window(requests, errors, buckets, itlSamples == 0 ? Double.NaN : LatencyHistogram.quantile(bounds, itl, 0.95), itlSamples);
    }

    private static long[] counts(List<Long> list) {
        long[] a = new long[list.size()];
        for (int i = 0; i < a.length; i++) {
            a[i] = list.get(i);
        }
        return a;
    }

    private static long total(long[] counts) {
        long t = 0;
        for (long c : counts) {
            t += c;
        }
        return t;
    }
}
