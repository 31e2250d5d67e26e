package io.boundless.router.routing;

import io.boundless.router.endpoints.Replica;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Chooses the inference replica for a prompt. With the "prefix" policy, the hash of the prompt's
 * leading full blocks (the same blocks the replicas' prefix caches key on) picks a point on a
 * consistent-hash ring, and the first replica clockwise whose outstanding requests are under the
 * bound takes it (consistent hashing with bounded loads, Mirrokni et al. 2018): requests that share a
 * prefix land where it is cached, and no replica takes more than loadFactor × the average. A prompt
 * shorter than one block goes to the replica with the fewest outstanding requests.
 */
public final class ReplicaPicker {
    private static final int POINTS_PER_REPLICA = 64;

    public enum Policy { PREFIX, ROUND_ROBIN }

    private final Policy policy;
    private final int blockSize;
    private final int affinityBlocks;
    private final double loadFactor;
    private final AtomicInteger roundRobin = new AtomicInteger();
    /** Ring points per replica address, computed once. */
    private final Map<String, long[]> points = new ConcurrentHashMap<>();

    public ReplicaPicker(Policy policy, int blockSize, int affinityBlocks, double loadFactor) {
        if (blockSize <= 0 || affinityBlocks <= 0 || loadFactor < 1) {
            throw new IllegalArgumentException("routing needs block-size > 0, affinity-blocks > 0, load-factor >= 1");
        }
        this.policy = policy;
        this.blockSize = blockSize;
        this.affinityBlocks = affinityBlocks;
        this.loadFactor = loadFactor;
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
        int blocks = Math.min(affinityBlocks, prompt.length / blockSize);
        if (blocks == 0) {
            return leastOutstanding(list);
        }
        long key = prefixHash(prompt, blocks * blockSize);
        int total = 0;
        for (Replica r : list) {
            total += r.outstanding();
        }
        // a replica may hold at most ceil(c · (total + 1) / n) requests, counting this one
        double bound = Math.ceil(loadFactor * (total + 1) / list.size());
        TreeMap<Long, Replica> ring = new TreeMap<>();
        for (Replica r : list) {
            for (long p : points.computeIfAbsent(r.address(), ReplicaPicker::ringPoints)) {
                ring.put(p, r);
            }
        }
        var start = ring.ceilingEntry(key);
        var it = (start == null ? ring : ring.tailMap(start.getKey(), true)).values().iterator();
        for (int seen = 0; seen < ring.size(); seen++) {
            if (!it.hasNext()) {
                it = ring.values().iterator();
            }
            Replica r = it.next();
            if (r.outstanding() + 1 <= bound) {
                return r;
            }
        }
        return leastOutstanding(list);
    }

    private static Replica leastOutstanding(List<Replica> list) {
        Replica best = null;
        for (Replica r : list) {
            if (best == null || r.outstanding() < best.outstanding()) {
                best = r;
            }
        }
        return best;
    }

    /** A 64-bit hash of the first n token ids. */
    static long prefixHash(int[] ids, int n) {
        ByteBuffer b = ByteBuffer.allocate(4 * n);
        for (int i = 0; i < n; i++) {
            b.putInt(ids[i]);
        }
        return digest(b.array());
    }

    private static long[] ringPoints(String address) {
        long[] p = new long[POINTS_PER_REPLICA];
        for (int i = 0; i < p.length; i++) {
            p[i] = digest((address + "#" + i).getBytes(StandardCharsets.UTF_8));
        }
        return p;
    }

    private static long digest(byte[] bytes) {
        try {
            return ByteBuffer.wrap(MessageDigest.getInstance("SHA-256").digest(bytes)).getLong();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
