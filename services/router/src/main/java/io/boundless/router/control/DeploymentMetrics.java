package io.boundless.router.control;

import io.boundless.router.rollout.DeploymentStatus;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import java.util.ArrayList;
import java.util.List;

/**
 * The deployment's metrics, from its status and its events: per version its traffic weight, per (version, pool) the
 * ready, desired and draining replicas, the rollout's phase, and counters of scale events, analyses by verdict,
 * rollbacks, promotions and replica exits.
 */
public final class DeploymentMetrics {
    private final MeterRegistry registry;
    private final DeploymentController controller;
    private final MultiGauge weights;
    private final MultiGauge replicas;
    private final MultiGauge phase;

    public DeploymentMetrics(MeterRegistry registry, DeploymentController controller) {
        this.registry = registry;
        this.controller = controller;
        this.weights = MultiGauge.builder("boundless_rollout_weight").description("share of the traffic per version, 0 to 100").register(registry);
        this.replicas = MultiGauge.builder("boundless_deployment_replicas").description("replicas per version, pool and state (ready, desired, draining)")
                .register(registry);
        this.phase = MultiGauge.builder("boundless_rollout_phase").description("1 for the rollout's current phase").register(registry);
        controller.watch(this::count);
    }

    private void count(DeploymentStatus.Event e) {
        switch (e.reason()) {
            case "ScaledUp", "ScaledDown" -> registry.counter("boundless_scale_events_total", "direction", e.reason().equals("ScaledUp") ? "up" : "down").increment();
            case "RolledBack", "Promoted", "Aborted", "ProgressDeadlineExceeded" -> registry.counter("boundless_rollout_outcomes_total", "outcome", e.reason()).increment();
            case "ReplicaExited" -> registry.counter("boundless_replica_exits_total").increment();
            default -> { }
        }
        if (e.message().startsWith("analysis passed")) {
            registry.counter("boundless_rollout_analyses_total", "verdict", "PASS").increment();
        } else if (e.reason().equals("RolledBack")) {
            registry.counter("boundless_rollout_analyses_total", "verdict", "FAIL").increment();
        } else if (e.message().startsWith("holding at") || e.message().contains("inconclusive")) {
            registry.counter("boundless_rollout_analyses_total", "verdict", "INCONCLUSIVE").increment();
        }
    }

    /** Refreshes the gauges from the status now (the controller's loop calls it after each tick). */
    public void refresh() {
        DeploymentStatus s = controller.status();
        List<MultiGauge.Row<?>> w = new ArrayList<>();
        List<MultiGauge.Row<?>> r = new ArrayList<>();
        for (var v : s.versions()) {
            w.add(MultiGauge.Row.of(Tags.of("model", s.model(), "version", v.name()), v.weight()));
            for (var p : v.pools()) {
                Tags t = Tags.of("model", s.model(), "version", v.name(), "pool", p.pool());
                r.add(MultiGauge.Row.of(t.and("state", "ready"), p.ready()));
                r.add(MultiGauge.Row.of(t.and("state", "desired"), p.desired()));
                r.add(MultiGauge.Row.of(t.and("state", "draining"), p.draining()));
            }
        }
        weights.register(w, true);
        replicas.register(r, true);
        if (s.rollout() != null) {
            List<MultiGauge.Row<?>> ph = new ArrayList<>();
            for (String p : List.of("Healthy", "Progressing", "Paused", "Degraded")) {
                ph.add(MultiGauge.Row.of(Tags.of("model", s.model(), "phase", p), p.equals(s.rollout().phase()) ? 1 : 0));
            }
            phase.register(ph, true);
        }
    }
}
