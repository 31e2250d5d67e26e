package io.boundless.router.endpoints;

import io.boundless.proto.inference.v1.InferenceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One inference replica: its channel, the requests the router has outstanding on it, and whether it
 * is admitted (passed its last health check and is not ejected).
 */
public final class Replica implements AutoCloseable {
    private final String address;
    private final ManagedChannel channel;
    private final InferenceGrpc.InferenceStub stub;
    private final AtomicInteger outstanding = new AtomicInteger();
    private volatile boolean healthy;
    private volatile long ejectedUntilNanos;
    private volatile int contextLength;
    private volatile String modelName = "";
    private int failedChecks;  // consecutive; the health checker's thread only

    public Replica(String address) {
        this.address = address;
        int colon = address.lastIndexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("an inference replica is host:port, not '" + address + "'");
        }
        this.channel = ManagedChannelBuilder.forAddress(address.substring(0, colon), Integer.parseInt(address.substring(colon + 1)))
                .usePlaintext().maxInboundMessageSize(16 << 20).build();
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

    public void release() {
        outstanding.decrementAndGet();
    }

    /** Healthy and not ejected. */
    public boolean admitted() {
        return healthy && System.nanoTime() - ejectedUntilNanos >= 0;
    }

    public boolean healthy() {
        return healthy;
    }

    void healthy(boolean h) {
        healthy = h;
    }

    void ejectUntil(long nanos) {
        ejectedUntilNanos = nanos;
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
