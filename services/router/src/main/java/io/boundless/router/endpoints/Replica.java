package io.boundless.router.endpoints;

import io.boundless.proto.inference.v1.InferenceGrpc;
import io.grpc.ManagedChannel;
import io.boundless.proto.tls.PeerTls;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One inference replica: its channel, the requests the router has outstanding on it, whether it is
 * admitted (passed its last health check, is not ejected and is not draining), the version and pool it
 * serves (empty for a statically configured replica), one replica's relative capacity, and its last load.
 */
public final class Replica implements AutoCloseable {
    /** STARTING until its first health check passes; DRAINING once it is leaving (no new requests). */
    public enum State { STARTING, SERVING, DRAINING }

    private final String address;
    private final String version;
    private final String pool;
    private final double capacity;
    private volatile State state = State.STARTING;
    private volatile io.boundless.proto.inference.v1.GetLoadResponse lastLoad;
    private volatile long lastLoadNanos;
    private final ManagedChannel channel;
    private final InferenceGrpc.InferenceStub stub;
    private final AtomicInteger outstanding = new AtomicInteger();
    private volatile boolean healthy;
    private volatile long ejectedUntilNanos;
    private volatile int contextLength;
    private volatile String modelName = "";
    private int failedChecks;  // consecutive; the health checker's thread only
    /** The router's view of its speed: the gaps between token messages, per token, of the calls on it. */
    private final LatencyOutliers.Window interTokenGaps = new LatencyOutliers.Window(64);
    int latencyEjections;      // in a row; the health checker's thread only

    public Replica(String address) {
        this(address, "", "", 1.0);
    }

    public Replica(String address, String version, String pool, double capacity) {
        if (!(capacity > 0)) {
            throw new IllegalArgumentException("a replica's capacity is above 0, not " + capacity);
        }
        this.address = address;
        this.version = version;
        this.pool = pool;
        this.capacity = capacity;
        int colon = address.lastIndexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("an inference replica is host:port, not '" + address + "'");
        }
        this.channel = PeerTls.channelBuilder(PeerChannels.tls(), address.substring(0, colon), Integer.parseInt(address.substring(colon + 1)))
                .maxInboundMessageSize(16 << 20).intercept(io.boundless.proto.tracing.TracingInterceptor.client()).build();
        this.stub = InferenceGrpc.newStub(channel);
    }

    public String address() {
        return address;
    }

    public InferenceGrpc.InferenceStub stub() {
        return stub;
    }

    public ManagedChannel channel() {
        return channel;
    }

    public int outstanding() {
        return outstanding.get();
    }

    public void acquire() {
        outstanding.incrementAndGet();
    }

    /** What to do with the calls in flight on this replica when it stops answering (the router's streams on it). */
    private final java.util.Set<java.util.function.Consumer<String>> lostListeners = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /**
     * Runs listener (with why) if the replica is given up (frozen, unreachable, a latency outlier) while a call is on
     * it; the returned action unregisters it.
     */
    public Runnable onLost(java.util.function.Consumer<String> listener) {
        lostListeners.add(listener);
        return () -> lostListeners.remove(listener);
    }

    /**
     * The replica is given up (it stopped answering its health checks; it is far slower than its peers): every call in
     * flight on it is given up (a frozen process keeps its connections open, so its streams would otherwise wait for
     * their deadlines), each listener once.
     */
    public void lost(String why) {
        for (var r : java.util.List.copyOf(lostListeners)) {
            if (lostListeners.remove(r)) {
                r.accept(why);
            }
        }
    }

    public void release() {
        outstanding.decrementAndGet();
    }

    /** A token message of a call on it arrived nanos after the previous one, carrying tokens tokens. */
    public void interTokenGap(long nanos, int tokens) {
        if (tokens > 0 && nanos >= 0) {
            interTokenGaps.record(nanos / tokens);
        }
    }

    public LatencyOutliers.Window interTokenGaps() {
        return interTokenGaps;
    }

    /** Healthy, not ejected and not draining. */
    public boolean admitted() {
        return healthy && state != State.DRAINING && System.nanoTime() - ejectedUntilNanos >= 0;
    }

    public String version() {
        return version;
    }

    public String pool() {
        return pool;
    }

    /** One replica's throughput relative to the others' (its pool's capacity): load balancing and scaling weigh by it. */
    public double capacity() {
        return capacity;
    }

    public State state() {
        return state;
    }

    /** Stops it getting new requests; its streams go on. */
    public void drain() {
        state = State.DRAINING;
    }

    /** Lets a drained replica take requests again (a Kubernetes endpoint that was not ready and is ready again). */
    public void undrain() {
        if (state == State.DRAINING) {
            state = lastLoad == null ? State.STARTING : State.SERVING;
        }
    }

    /** The last GetLoad answer, null before the first. */
    public io.boundless.proto.inference.v1.GetLoadResponse lastLoad() {
        return lastLoad;
    }

    /** A GetLoad answer (the pool's health checks; public for the controller's tests, which play them). */
    public void loaded(io.boundless.proto.inference.v1.GetLoadResponse load) {
        lastLoad = load;
        lastLoadNanos = System.nanoTime();
        if (state == State.STARTING) {
            state = State.SERVING;
        }
    }

    public boolean healthy() {
        return healthy;
    }

    /** Set by the pool's health checks (public for the controller's tests, which play the checks). */
    public void healthy(boolean h) {
        healthy = h;
    }

    /** Ejected until then at least (a longer ejection in force stays). */
    void ejectUntil(long nanos) {
        if (!(System.nanoTime() - ejectedUntilNanos < 0 && ejectedUntilNanos - nanos > 0)) {
            ejectedUntilNanos = nanos;
        }
    }

    void checkPassed() {
        failedChecks = 0;
    }

    /** Counts a failed health check; returns the failures in a row. */
    int checkFailed() {
        return ++failedChecks;
    }

    public int contextLength() {
        return contextLength;
    }

    void describe(String model, int context) {
        modelName = model;
        contextLength = context;
    }

    public String modelName() {
        return modelName;
    }

    @Override
    public void close() {
        channel.shutdownNow();
        try {
            channel.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return address;
    }
}
