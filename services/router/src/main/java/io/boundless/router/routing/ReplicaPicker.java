package io.boundless.router.routing;

import io.boundless.router.endpoints.Replica;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Chooses the inference replica for a prompt.
 *
 * <p>"prefix": the router remembers where it sent each prompt prefix, as chained hashes of the
 * prompt's full blocks (the blocks the replicas' prefix caches key on). A prompt goes to the replica
 * that was sent its longest known prefix, unless that replica already has more than loadFactor × the
 * average outstanding requests (bounded load); a prompt with no known prefix goes to a replica with
 * the fewest outstanding requests and, among those, the fewest remembered prefix blocks (so new
 * prefixes spread over the caches evenly, also when they arrive one at a time). Consistent hashing alone (tried first) assigns a handful of hot prefixes
 * unevenly — with 8 prefixes over 2 replicas, a 6/2 split or worse in 29% of layouts — which
 * overflows one replica's cache; assigning each new prefix by load keeps them balanced.
 *
 * <p>"round-robin": for comparison.
 */
public final class ReplicaPicker {

    public enum Policy { PREFIX, ROUND_ROBIN }

    private final Policy policy;
    private final int blockSize;
    private final int maxBlocks;
    private final double loadFactor;
    private final AtomicInteger roundRobin = new AtomicInteger();
    /** Prefix chain hash -> the replica last sent that prefix; least recently used entries go first. */
    private final Map<Long, Replica> sentTo;
    /** Remembered blocks per replica: an estimate of how much of each cache the prefixes sent there fill. */
    private final Map<Replica, Integer> footprint = new java.util.HashMap<>();

    /**
     * @param maxBlocks  leading full blocks of a prompt that are remembered and matched
     * @param capacity   prefixes remembered (memory: about 100 bytes each)
     */
    public ReplicaPicker(Policy policy, int blockSize, int maxBlocks, double loadFactor, int capacity) {
        if (blockSize <= 0 || maxBlocks <= 0 || loadFactor < 1 || capacity <= 0) {
            throw new IllegalArgumentException("routing needs block-size > 0, affinity-blocks > 0, load-factor >= 1, capacity > 0");
        }
        this.policy = policy;
        this.blockSize = blockSize;
        this.maxBlocks = maxBlocks;
        this.loadFactor = loadFactor;
        this.sentTo = new LinkedHashMap<>(1024, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<Long, Replica> eldest) {
                if (size() > capacity) {
                    footprint.merge(eldest.getValue(), -1, Integer::sum);
                    return true;
                }
                return false;
            }
        };
    }

    /** The replica for the prompt among candidates (admitted and not yet tried), or null if there are none. */
    public Replica pick(int[] prompt, Collection<Replica> candidates) {
        if (candidates.isEmpty()) {
            return null;
        }
        List<Replica> list = new ArrayList<>(candidates);
        if (policy == Policy.ROUND_ROBIN) {
            return list.get(Math.floorMod(roundRobin.getAndIncrement(), list.size()));
        }
        // seeded by version: two versions' caches hold different keys and values for the same prompt
        long[] chain = blockHashes(prompt, Math.min(maxBlocks, prompt.length / blockSize), list.getFirst().version());
        int total = 0;
        double capacity = 0;
        for (Replica r : list) {
            total += r.outstanding();
            capacity += r.capacity();
        }
        // a replica may hold at most ceil(c · (total + 1) · its share of the capacity) requests, counting this one
        double perUnit = loadFactor * (total + 1) / capacity;
        synchronized (sentTo) {
            Replica chosen = null;
            for (int j = chain.length - 1; j >= 0 && chosen == null; j--) {
                Replica r = sentTo.get(chain[j]);
                if (r != null && list.contains(r) && r.outstanding() + 1 <= Math.ceil(perUnit * r.capacity())) {
                    chosen = r;
                }
            }
            if (chosen == null) {
                chosen = leastLoaded(list, chain.length > 0 ? chain[0] : prompt.length);
            }
            for (long h : chain) {
                Replica before = sentTo.put(h, chosen);
                if (before != chosen) {
                    footprint.merge(chosen, 1, Integer::sum);
                    if (before != null) {
                        footprint.merge(before, -1, Integer::sum);
                    }
                }
            }
            return chosen;
        }
    }

    /** Prefixes remembered now. */
    public int remembered() {
        synchronized (sentTo) {
            return sentTo.size();
        }
    }

    /**
     * The replica with the fewest outstanding requests per unit of capacity; among equals, the one with the fewest
     * remembered prefix blocks per unit (so that new prefixes fill the caches evenly even when requests come one at
     * a time), then the one the key's hash points at.
     */
    private Replica leastLoaded(List<Replica> list, long key) {
        // one snapshot of each replica's load: other requests start and end meanwhile, and a second read of
        // outstanding() could leave no replica equal to the minimum the first read found
        int n = list.size();
        double[] load = new double[n];
        double[] blocks = new double[n];
        double min = Double.MAX_VALUE;
        for (int i = 0; i < n; i++) {
            Replica r = list.get(i);
            load[i] = r.outstanding() / r.capacity();
            blocks[i] = footprint.getOrDefault(r, 0) / r.capacity();
            min = Math.min(min, load[i]);
        }
        double minBlocks = Double.MAX_VALUE;
        for (int i = 0; i < n; i++) {
            if (load[i] == min) {
                minBlocks = Math.min(minBlocks, blocks[i]);
            }
        }
        List<Replica> idle = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            if (load[i] == min && blocks[i] == minBlocks) {
                idle.add(list.get(i));
            }
        }
        return idle.get((int) Math.floorMod(mix(key), (long) idle.size()));
    }

    /** Chained hashes of the first n blocks: h[j] covers blocks 0..j. */
    long[] blockHashes(int[] ids, int n) {
        return blockHashes(ids, n, "");
    }

    /** The same, seeded by a version name (the empty one gives the unseeded chain). */
    long[] blockHashes(int[] ids, int n, String version) {
        long[] out = new long[n];
        long h = 0x9E3779B97F4A7C15L ^ (version.isEmpty() ? 0 : mix(version.hashCode() * 0xD6E8FEB86659FD93L));
        for (int j = 0; j < n; j++) {
            for (int i = j * blockSize; i < (j + 1) * blockSize; i++) {
                h = mix(h ^ (ids[i] & 0xFFFFFFFFL) * 0xC2B2AE3D27D4EB4FL);
            }
            out[j] = h;
        }
        return out;
    }

    /** SplitMix64's finalizer. */
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
