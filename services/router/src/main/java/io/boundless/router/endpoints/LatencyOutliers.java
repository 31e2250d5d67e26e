package io.boundless.router.endpoints;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Outlier ejection by latency: a replica whose inter-token latency (as the router sees it, the gap between token
 * messages per token, over its recent window) is far above its peers' is taken out of rotation for a while, as
 * Envoy's outlier detection does for errors. Plain code on plain numbers, tested on traces; the pool runs it after
 * each round of health checks over the replicas of each (version, pool) — different hardware or versions are
 * never compared.
 *
 * <p>A replica's latency is the mean of its window's gaps with the slowest 5% left out: a mean, since a replica that
 * stalls between bursts of tokens is slow for its clients however fast each burst is (a median would miss it); the
 * slowest few left out, so that one long stall (a big prefill in the batch) does not count. A replica is an
 * outlier when it has {@code minSamples} gaps in its window, its latency is above {@code factor} times the median of
 * its peers' (peers with enough samples of their own, at least one) and above it by {@code minExcessNanos}. At most {@code maxEjectedShare} of a group's admitted replicas are ejected,
 * the slowest first, and never the last one admitted.
 */
public final class LatencyOutliers {
    private LatencyOutliers() {}

    /**
     * @param factor          how many times the peers' median a replica's latency must exceed
     * @param minExcessNanos  and by how much at least (a fast fleet's small differences are no outliers)
     * @param minSamples      gaps a replica's window needs before it is judged (and a peer, to judge by)
     * @param maxEjectedShare the share of a group's admitted replicas that may be out for latency at once
     */
    public record Settings(double factor, long minExcessNanos, int minSamples, double maxEjectedShare) {
        public Settings {
            if (!(factor > 1)) {
                throw new IllegalArgumentException("the latency outlier factor is above 1, not " + factor);
            }
            if (minSamples < 1) {
                throw new IllegalArgumentException("the latency outlier window needs at least 1 sample, not " + minSamples);
            }
            if (!(maxEjectedShare >= 0 && maxEjectedShare <= 1)) {
                throw new IllegalArgumentException("the share of replicas ejected for latency is in [0, 1], not " + maxEjectedShare);
            }
        }
    }

    /** A replica's recent inter-token gaps (nanoseconds per token): a ring of the last {@code size}. */
    public static final class Window {
        private final long[] ring;
        private int next;
        private int count;

        public Window(int size) {
            ring = new long[size];
        }

        public synchronized void record(long nanosPerToken) {
            ring[next] = nanosPerToken;
            next = (next + 1) % ring.length;
            count = Math.min(count + 1, ring.length);
        }

        public synchronized int samples() {
            return count;
        }

        /** The mean of the window's gaps without the slowest 5% (rounded up from 20 samples on; 0 when empty). */
        public synchronized long typical() {
            if (count == 0) {
                return 0;
            }
            long[] v = Arrays.copyOf(ring, count);
            Arrays.sort(v);
            int keep = count - (count >= 20 ? (int) Math.ceil(count * 0.05) : 0);
            long sum = 0;
            for (int i = 0; i < keep; i++) {
                sum += v[i];
            }
            return sum / keep;
        }

        public synchronized void clear() {
            count = 0;
            next = 0;
        }
    }

    /** A replica as judged: its window's latency ({@link Window#typical()}) and sample count. */
    public record Candidate<T>(T replica, long nanos, int samples) {}

    /** An outlier found: the replica, its latency and the median of its peers' it was compared with. */
    public record Outlier<T>(T replica, long nanos, long peersNanos) {}

    /**
     * The outliers among one group's admitted replicas, slowest first.
     *
     * @param admitted the group's admitted replicas (all of them, judged or not: the share is of these)
     */
    public static <T> List<Outlier<T>> find(List<Candidate<T>> admitted, Settings s) {
        List<Candidate<T>> judged = admitted.stream().filter(c -> c.samples() >= s.minSamples()).toList();
        List<Outlier<T>> out = new ArrayList<>();
        if (judged.size() < 2) {
            return out;  // no peer to compare with
        }
        for (Candidate<T> c : judged) {
            long[] peers = judged.stream().filter(p -> p != c).mapToLong(Candidate::nanos).sorted().toArray();
            long peersMedian = peers.length % 2 == 1 ? peers[peers.length / 2] : (peers[peers.length / 2 - 1] + peers[peers.length / 2]) / 2;
            if (c.nanos() > s.factor() * peersMedian && c.nanos() - peersMedian > s.minExcessNanos()) {
                out.add(new Outlier<>(c.replica(), c.nanos(), peersMedian));
            }
        }
        out.sort(Comparator.comparingLong((Outlier<T> o) -> o.nanos()).reversed());
        int allowed = Math.min((int) Math.floor(s.maxEjectedShare() * admitted.size()), admitted.size() - 1);
        return out.size() <= allowed ? out : List.copyOf(out.subList(0, Math.max(0, allowed)));
    }
}
