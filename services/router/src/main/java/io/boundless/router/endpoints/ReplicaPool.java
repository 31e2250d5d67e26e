package io.boundless.router.endpoints;

import io.boundless.proto.inference.v1.GetLoadRequest;
import io.boundless.proto.inference.v1.GetModelInfoRequest;
import io.boundless.proto.inference.v1.InferenceGrpc;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * The inference replicas of a model (from static configuration or the local process manager; a
 * Kubernetes EndpointSlice source plugs in here later). Active health checks call each replica's
 * GetLoad every interval; a failed check or a request that fails before its first token ejects the
 * replica (passive outlier detection) until the ejection time has passed and a check succeeds again.
 */
public final class ReplicaPool implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ReplicaPool.class);

    private final List<Replica> replicas = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final Duration interval;
    private final Duration ejection;
    private final Duration timeout;
    private final int failuresToEject;
    private final LatencyOutliers.Settings latency;
    private final java.util.concurrent.atomic.AtomicLong latencyEjections = new java.util.concurrent.atomic.AtomicLong();
    private final ScheduledExecutorService checker;

    /** Static addresses (may be empty: a replica manager adds them), checked every interval. */
    public ReplicaPool(List<String> addresses, Duration interval, Duration ejection, Duration timeout, int failuresToEject) {
        this(addresses, interval, ejection, timeout, failuresToEject, new LatencyOutliers.Settings(3.0, 20_000_000, 32, 0.5));
    }

    /** With latency outlier ejection of these settings (after each round of checks). */
    public ReplicaPool(List<String> addresses, Duration interval, Duration ejection, Duration timeout, int failuresToEject,
            LatencyOutliers.Settings latency) {
        this.latency = latency;
        addresses.stream().map(String::trim).filter(a -> !a.isEmpty()).distinct().map(Replica::new).forEach(replicas::add);
        this.interval = interval;
        this.ejection = ejection;
        this.timeout = timeout;
        this.failuresToEject = Math.max(1, failuresToEject);
        this.checker = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "replica-health");
            t.setDaemon(true);
            return t;
        });
    }

    private volatile boolean started;

    public void start() {
        started = true;
        checker.scheduleWithFixedDelay(this::checkAll, 0, interval.toMillis(), TimeUnit.MILLISECONDS);
    }

    public List<Replica> all() {
        return replicas;
    }

    public List<Replica> admitted() {
        return replicas.stream().filter(Replica::admitted).toList();
    }

    /**
     * A version served as a delta over another version's replicas: an edit ({@code <model>/<base>+<edit>}) whose base
     * is also a version of the deployment runs on the base's replicas, each request naming the delta (source).
     */
    public record DeltaVersion(String base, String source) {}

    private volatile java.util.Map<String, DeltaVersion> deltas = java.util.Map.of();

    /** The versions served as deltas from now on, by version name. */
    public void deltaVersions(java.util.Map<String, DeltaVersion> byVersion) {
        this.deltas = java.util.Map.copyOf(byVersion);
    }

    public java.util.Map<String, DeltaVersion> deltaVersions() {
        return deltas;
    }

    /** The delta a request of version carries to its replica ({@code GenerateRequest.version}): its source, or "". */
    public String deltaSource(String version) {
        DeltaVersion d = version == null ? null : deltas.get(version);
        return d == null ? "" : d.source();
    }

    /** The admitted replicas of a version (null: of every version); a delta version's are its base's. */
    public List<Replica> admitted(String version) {
        DeltaVersion d = version == null ? null : deltas.get(version);
        String serving = d == null ? version : d.base();
        return replicas.stream().filter(r -> r.admitted() && (serving == null || r.version().equals(serving))).toList();
    }

    /** A replica the replica manager started; it is checked at once and admitted when it passes. */
    public void add(Replica r) {
        replicas.add(r);
        if (started) {
            checker.execute(() -> check(r));
        }
    }

    /** A replica that stopped: it leaves the pool and its channel closes. */
    public void remove(Replica r) {
        if (replicas.remove(r)) {
            r.close();
        }
    }

    /** A request failed on the replica before its first token: eject it. */
    public void eject(Replica r, String why) {
        if (r.healthy()) {
            LOG.warnf("ejecting inference replica %s for %d ms: %s", r, ejection.toMillis(), why);
        }
        r.ejectUntil(System.nanoTime() + ejection.toNanos());
        r.healthy(false);
    }

    /** One health check of every replica now (also run every interval). */
    public void checkAll() {
        for (Replica r : replicas) {
            check(r);
        }
        ejectSlow();
    }

    /** Replicas ejected as latency outliers so far. */
    public long latencyEjections() {
        return latencyEjections.get();
    }

    /**
     * Outlier ejection by latency, per (version, pool): an outlier is ejected for the ejection time times its
     * ejections in a row (at most 8), its window cleared (it is judged afresh when back) and its calls given up, so
     * that their streams continue on a faster replica. A replica judged and found no outlier starts its count anew.
     */
    void ejectSlow() {
        if (latency.maxEjectedShare() == 0) {
            return;
        }
        java.util.Map<String, List<LatencyOutliers.Candidate<Replica>>> groups = new java.util.LinkedHashMap<>();
        for (Replica r : replicas) {
            if (r.admitted()) {
                var w = r.interTokenGaps();
                groups.computeIfAbsent(r.version() + "\u0000" + r.pool(), k -> new java.util.ArrayList<>())
                        .add(new LatencyOutliers.Candidate<>(r, w.typical(), w.samples()));
            }
        }
        for (var group : groups.values()) {
            var outliers = LatencyOutliers.find(group, latency);
            if (LOG.isDebugEnabled()) {
                LOG.debugf("inter-token latency: %s", group.stream().map(c -> c.replica() + " " + Math.round(c.nanos() / 1e5) / 10.0 + " ms over "
                        + c.samples()).toList());
            }
            for (var c : group) {
                if (c.samples() >= latency.minSamples() && outliers.stream().noneMatch(o -> o.replica() == c.replica())) {
                    c.replica().latencyEjections = 0;
                }
            }
            for (var o : outliers) {
                Replica r = o.replica();
                r.latencyEjections = Math.min(8, r.latencyEjections + 1);
                long forNanos = ejection.toNanos() * r.latencyEjections;
                LOG.warnf("ejecting inference replica %s for %d ms: a latency outlier, inter-token latency %.1f ms against its peers' %.1f ms;"
                        + " its streams continue elsewhere", r, forNanos / 1_000_000, o.nanos() / 1e6, o.peersNanos() / 1e6);
                r.ejectUntil(System.nanoTime() + forNanos);
                r.healthy(false);
                r.interTokenGaps().clear();
                latencyEjections.incrementAndGet();
                r.lost("it is a latency outlier (inter-token latency " + Math.round(o.nanos() / 1e6) + " ms, its peers' "
                        + Math.round(o.peersNanos() / 1e6) + " ms)");
            }
        }
    }

    /**
     * One check: GetModelInfo (until it answered once) and GetLoad within the timeout. A replica is
     * ejected after failuresToEject checks in a row fail (a busy replica may answer one check late),
     * and admitted again by the first check that passes after its ejection time.
     */
    private void check(Replica r) {
        try {
            // the check decides how often a replica that went away is probed, not gRPC's reconnect backoff: after a
            // minute down that backoff reaches a minute or two, and a restarted replica would wait that long to be seen
            if (r.channel().getState(false) == io.grpc.ConnectivityState.TRANSIENT_FAILURE) {
                r.channel().resetConnectBackoff();
            }
            InferenceGrpc.InferenceBlockingStub stub = InferenceGrpc.newBlockingStub(r.channel()).withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS);
            if (r.contextLength() == 0) {
                var info = stub.getModelInfo(GetModelInfoRequest.getDefaultInstance());
                r.describe(info.getModel(), info.getContextLength());
            }
            r.loaded(stub.getLoad(GetLoadRequest.getDefaultInstance()));
            r.checkPassed();
            if (!r.healthy()) {
                LOG.infof("inference replica %s (%s) passes its health check", r, r.modelName());
                r.healthy(true);
            }
        } catch (StatusRuntimeException e) {
            if (r.checkFailed() >= failuresToEject && r.healthy()) {
                eject(r, failuresToEject + " health checks failed in a row, the last: " + e.getStatus().getCode() + " " + e.getStatus().getDescription());
                r.lost("it stopped answering its health checks");  // its streams continue elsewhere now, not at their deadlines
            }
        } catch (RuntimeException e) {
            LOG.warnf("health check of %s failed: %s", r, e.toString());
            r.healthy(false);
        }
    }

    @Override
    public void close() {
        checker.shutdownNow();
        replicas.forEach(Replica::close);
    }
}
