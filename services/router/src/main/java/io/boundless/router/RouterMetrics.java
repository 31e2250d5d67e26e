package io.boundless.router;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;

/** The router's own metrics (Prometheus at /q/metrics), next to the gRPC server binder's per-RPC ones. */
public final class RouterMetrics {
    final Timer tokenize;
    final Timer timeToFirstToken;
    final Timer replicaFirstToken;
    final Timer detokenize;
    final Counter retries;
    final Counter ejections;
    final Counter resumed;
    private final MeterRegistry registry;

    public RouterMetrics(MeterRegistry registry) {
        this(registry, java.util.List.of(Duration.ofMillis(500), Duration.ofSeconds(1), Duration.ofSeconds(2), Duration.ofSeconds(5)));
    }

    /** With buckets of the TTFT histogram at exactly these thresholds (the SLOs alerts select by {@code le}). */
    public RouterMetrics(MeterRegistry registry, java.util.List<Duration> ttftSlos) {
        this.registry = registry;
        this.tokenize = timer("boundless_router_tokenize_seconds", "tokenizer call per request (Encode or ApplyChatTemplate)");
        this.timeToFirstToken = Timer.builder("boundless_router_time_to_first_token_seconds").description("request received to its first text sent")
                .publishPercentileHistogram().serviceLevelObjectives(ttftSlos.toArray(Duration[]::new)).minimumExpectedValue(Duration.ofNanos(50_000))
                .maximumExpectedValue(Duration.ofSeconds(60)).register(registry);
        this.replicaFirstToken = timer("boundless_router_replica_first_token_seconds", "inference call started to its first token received");
        this.detokenize = timer("boundless_router_detokenize_seconds", "a token received from inference to its text sent to the client");
        this.retries = Counter.builder("boundless_router_retries_total").description("requests sent to another replica after one failed before the first token")
                .register(registry);
        this.resumed = Counter.builder("boundless_router_resumed_samples_total")
                .description("samples continued on another replica from their tokens after the replica carrying them failed").register(registry);
        this.ejections = Counter.builder("boundless_router_replica_ejections_total").description("replicas ejected after a failure").register(registry);
    }

    /** The pool's ejections for latency, as a counter. */
    void latencyEjections(io.boundless.router.endpoints.ReplicaPool pool) {
        io.micrometer.core.instrument.FunctionCounter.builder("boundless_router_replica_latency_ejections_total", pool,
                io.boundless.router.endpoints.ReplicaPool::latencyEjections)
                .description("replicas ejected as latency outliers (median inter-token latency far above their peers')").register(registry);
    }

    private Timer timer(String name, String description) {
        return Timer.builder(name).description(description).publishPercentileHistogram().minimumExpectedValue(Duration.ofNanos(50_000))
                .maximumExpectedValue(Duration.ofSeconds(60)).register(registry);
    }

    /** A request refused before it started: reason is rate-limit, key-quota, overload or overload-batch. */
    void refused(String reason) {
        registry.counter("boundless_router_refused_total", "reason", reason).increment();
    }

    void outcome(String outcome) {
        registry.counter("boundless_router_requests_total", "outcome", outcome).increment();
    }
}
