package io.boundless.router.control;

import io.boundless.proto.inference.v1.GetLoadResponse;
import io.boundless.router.autoscale.Autoscaler;
import io.boundless.router.autoscale.ReplicaLoad;
import io.boundless.router.autoscale.ScalingSpec;
import io.boundless.router.endpoints.Replica;
import io.boundless.router.endpoints.ReplicaPool;
import io.boundless.router.rollout.CanaryAnalysis;
import io.boundless.router.rollout.DeploymentStatus;
import io.boundless.router.rollout.MeasurementWindows;
import io.boundless.router.rollout.ModelDeployment;
import io.boundless.router.rollout.ModelDeployments;
import io.boundless.router.rollout.RolloutController;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import org.jboss.logging.Logger;

/**
 * The control loop of one ModelDeployment, free of Kubernetes: once a tick it reaps replicas that exited, finishes
 * drains, reads the replicas' loads and measurements (which the pool's health checks fetch through GetLoad), advances
 * the rollout ({@link RolloutController}, its analysis over {@link MeasurementWindows}), asks each (version, pool)'s
 * {@link Autoscaler} for its replica count, starts or drains replicas to get there through the {@link ReplicaManager},
 * and tells the {@link Router} the version weights. A replica leaves in three steps: it is drained (no new requests),
 * its streams finish (the router's and the replica's own counts reach zero) or the grace period passes, then it is
 * stopped. A version outside the rollout (rolled back, retired by a promotion, removed from the spec) is drained to
 * zero. A replica that exits is replaced after a backoff that doubles with each exit in a row (a version whose files
 * are broken crash-loops slowly, and its rollout ends at the progress deadline).
 *
 * <p>All methods are synchronized; {@link #tick} runs on the controller's thread, the admin calls on gRPC's.
 */
public final class DeploymentController implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(DeploymentController.class);
    private static final int EVENTS = 200;

    private static final class Group {
        final Fleet.Key key;
        Autoscaler scaler;
        Autoscaler.Decision last;

        Group(Fleet.Key key) {
            this.key = key;
        }
    }

    private final String servedModel;
    private final ReplicaPool pool;
    private final Fleet fleet;
    private final Router router;
    private final LongSupplier clock;
    private final MeasurementWindows windows = new MeasurementWindows(Duration.ofMinutes(2));
    private final Map<Replica, GetLoadResponse> recorded = new java.util.IdentityHashMap<>();  // the last reading given to the windows
    private final Map<Replica, String> seriesIds = new java.util.IdentityHashMap<>();
    private long nextSeries;
    private final Map<Fleet.Key, Group> groups = new LinkedHashMap<>();
    private final Deque<DeploymentStatus.Event> events = new ArrayDeque<>();
    private final List<Consumer<DeploymentStatus.Event>> listeners = new CopyOnWriteArrayList<>();
    private final Map<String, DeploymentStatus.Condition> conditions = new LinkedHashMap<>();
    private ModelDeployment deployment;
    private long generation;
    private RolloutController rollout;
    private CanaryAnalysis analysis;
    private String lastTarget;
    private RolloutController.Status lastRollout;
    private java.util.concurrent.ScheduledExecutorService thread;

    /**
     * @param servedModel the model name the router serves (a deployment for another is refused)
     * @param clock       milliseconds (System::currentTimeMillis; tests give their own)
     * @param drainGrace  how long a draining replica's streams may take before it is stopped anyway
     */
    public DeploymentController(String servedModel, ReplicaPool pool, ReplicaManager manager, Router router, LongSupplier clock, Duration drainGrace) {
        this(servedModel, pool, new ProcessFleet(pool, manager, drainGrace), router, clock);
    }

    /** A controller over any fleet (a Deployment per (version, pool) on Kubernetes). */
    public DeploymentController(String servedModel, ReplicaPool pool, Fleet fleet, Router router, LongSupplier clock) {
        this.servedModel = servedModel;
        this.pool = pool;
        this.fleet = fleet;
        this.router = router;
        this.clock = clock;
    }

    /**
     * What an earlier controller of this deployment had reached (a new leader reads it from the resource's status),
     * so that it goes on from there: the stable version keeps serving, a rollout in progress resumes at its step (a
     * pause or analysis step starts over), a rolled-back canary stays rolled back.
     */
    public record Prior(String stable, String canary, String phase, int step, int canaryWeight) {}

    /** Applies a deployment as {@link #apply(ModelDeployment)} does, starting from what an earlier controller had reached. */
    public synchronized long apply(ModelDeployment d, Prior prior) {
        if (rollout == null && prior != null && prior.stable() != null && d.spec() != null && d.spec().versions() != null
                && d.spec().versions().stream().anyMatch(v -> v.name().equals(prior.stable()))) {
            List<String> names = d.spec().versions().stream().map(ModelDeployment.Version::name).toList();
            rollout = new RolloutController(prior.stable(), ModelDeployments.steps(d), ModelDeployments.progressDeadline(d), ModelDeployments.inconclusiveLimit(d));
            long now = clock.getAsLong();
            if (prior.canary() != null && names.contains(prior.canary()) && !prior.canary().equals(prior.stable())) {
                rollout.restore(prior.canary(), switch (prior.phase() == null ? "" : prior.phase()) {
                    case "Progressing" -> RolloutController.Phase.PROGRESSING;
                    case "Paused" -> RolloutController.Phase.PAUSED;
                    default -> RolloutController.Phase.DEGRADED;
                }, prior.step(), prior.canaryWeight(), now);
                lastTarget = prior.canary();
            } else {
                lastTarget = prior.stable();
            }
            lastRollout = rollout.status();
        }
        return apply(d);
    }

    /** Ticks every interval on a thread of its own. */
    public synchronized void start(Duration interval) {
        thread = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().name("deployment-controller").daemon().factory());
        thread.scheduleWithFixedDelay(() -> {
            try {
                tick();
            } catch (RuntimeException e) {
                LOG.error("the deployment controller's tick failed", e);
            }
        }, 0, interval.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
    }

    /**
     * Applies a deployment (the first, or a change). The last version listed is the target: on the first apply the
     * first version listed is stable and, if the target differs, a rollout to it starts; later, a new target starts a
     * rollout from the stable version (re-applying the same target after a rollback does not retry it). Returns the
     * generation. Refused, changing nothing: an invalid resource, another model, removing the stable version.
     */
    public synchronized long apply(ModelDeployment d) {
        List<String> problems = ModelDeployments.check(d);
        if (!problems.isEmpty()) {
            throw new ModelDeployments.InvalidDeploymentException(String.join("; ", problems));
        }
        if (!d.spec().model().equals(servedModel)) {
            throw new ModelDeployments.InvalidDeploymentException("spec.model is " + d.spec().model() + ", but this router serves " + servedModel);
        }
        List<String> names = d.spec().versions().stream().map(ModelDeployment.Version::name).toList();
        if (rollout != null && !names.contains(rollout.stable())) {
            throw new ModelDeployments.InvalidDeploymentException("spec.versions no longer lists " + rollout.stable()
                    + ", the stable version that serves the traffic; roll out another version and promote it first");
        }
        long now = clock.getAsLong();
        boolean inProgress = rollout != null && rollout.canary() != null && (lastRollout.phase() == RolloutController.Phase.PROGRESSING
                || lastRollout.phase() == RolloutController.Phase.PAUSED);
        String target = names.getLast();
        // a new rollout controller (the new spec's steps) for a new target; the same target re-applied keeps the
        // rollout's state: a rolled-back version stays Degraded until the spec names another one
        if (rollout == null || !inProgress && !target.equals(lastTarget)) {
            rollout = new RolloutController(rollout == null ? names.getFirst() : rollout.stable(), ModelDeployments.steps(d),
                    ModelDeployments.progressDeadline(d), ModelDeployments.inconclusiveLimit(d));
            lastRollout = rollout.status();
        }
        analysis = new CanaryAnalysis(ModelDeployments.analysis(d));
        // readings are kept as long as the longest analysis window needs, plus a minute
        Duration longest = Duration.ofMinutes(1);
        for (var step : ModelDeployments.steps(d)) {
            if (step instanceof RolloutController.Analysis a && a.window().compareTo(longest) > 0) {
                longest = a.window();
            }
        }
        windows.keep(longest.plusMinutes(1));
        deployment = d;
        pool.deltaVersions(ModelDeployments.deltaVersions(d));
        generation++;
        for (Group g : groups.values()) {
            g.scaler = null;  // the new spec's scaling, with a fresh history
        }
        var st = d.spec().rollout() == null ? null : d.spec().rollout().stickiness();
        router.stickiness(st == null || st.header() == null ? "x-session-id" : st.header(), st == null || st.user() == null || st.user());
        event(now, "Normal", "Applied", "generation " + generation + ": versions " + names + ", pools "
                + d.spec().pools().stream().map(ModelDeployment.Pool::name).toList());
        if (!target.equals(rollout.stable()) && !target.equals(lastTarget)) {
            lastRollout = rollout.start(target, now);
            event(now, "Normal", "RolloutStarted", "rolling out " + target + " (stable " + rollout.stable() + ")");
        }
        lastTarget = target;
        tick();
        return generation;
    }

    public synchronized long generation() {
        return generation;
    }

    /** One round of the loop (public for tests, which drive it with their own clock). */
    public synchronized void tick() {
        if (deployment == null) {
            return;
        }
        long now = clock.getAsLong();
        fleet.observe(now, this::event);
        List<Replica> replicas = pool.all();
        recorded.keySet().retainAll(Set.copyOf(replicas));
        seriesIds.keySet().retainAll(Set.copyOf(replicas));
        for (Replica r : replicas) {
            GetLoadResponse load = r.lastLoad();
            if (load != null && load != recorded.get(r) && load.hasMeasurements() && !r.version().isEmpty()) {  // each health check's reading once
                // a series per replica object, not per address: a new replica (process or Pod) may reuse an old one's port or IP
                String id = seriesIds.computeIfAbsent(r, x -> x.address() + "#" + nextSeries++);
                windows.record(id, r.version(), now, load.getMeasurements());
                // the delta versions this replica serves over its weights, each measured on its own requests
                for (var dv : pool.deltaVersions().entrySet()) {
                    var m = load.getVersionMeasurementsMap().get(dv.getValue().source());
                    if (m != null && dv.getValue().base().equals(r.version())) {
                        windows.record(id + "/" + dv.getKey(), dv.getKey(), now, m);
                    }
                }
                recorded.put(r, load);
            }
        }
        windows.prune(now);
        advanceRollout(now);
        Set<String> active = activeVersions();
        for (var v : deployment.spec().versions()) {
            if (pool.deltaVersions().containsKey(v.name())) {
                continue;  // served over its base's replicas: none of its own
            }
            for (var p : deployment.spec().pools()) {
                group(new Fleet.Key(v.name(), p.name()));
            }
        }
        fleet.keys().forEach(this::group);
        for (Group g : groups.values()) {
            scale(g, active.contains(g.key.version()) && poolOf(g.key.pool()) != null && sourceOf(g.key.version()) != null, now);
        }
        router.route(rollout.selector(), rollout.stable());
        updateConditions(now);
    }

    private Group group(Fleet.Key k) {
        return groups.computeIfAbsent(k, Group::new);
    }

    private ModelDeployment.Pool poolOf(String name) {
        return deployment.spec().pools().stream().filter(p -> p.name().equals(name)).findFirst().orElse(null);
    }

    private String sourceOf(String version) {
        return deployment.spec().versions().stream().filter(v -> v.name().equals(version)).map(ModelDeployment.Version::source).findFirst().orElse(null);
    }

    /** The stable version, and the canary while its rollout goes on. */
    private Set<String> activeVersions() {
        Set<String> a = new LinkedHashSet<>();
        a.add(rollout.stable());
        if (rollout.canary() != null && (lastRollout.phase() == RolloutController.Phase.PROGRESSING || lastRollout.phase() == RolloutController.Phase.PAUSED)) {
            a.add(rollout.canary());
        }
        for (String v : List.copyOf(a)) {  // a delta version keeps its base's replicas serving
            var dv = pool.deltaVersions().get(v);
            if (dv != null) {
                a.add(dv.base());
            }
        }
        return a;
    }

    private void advanceRollout(long now) {
        String canary = rollout.canary();
        boolean ready = canary != null && !pool.admitted(canary).isEmpty();
        RolloutController.Status before = lastRollout;
        lastRollout = rollout.tick(now, ready, window -> analysis.analyze(windows.window(canary, now, window),
                windows.window(rollout.stable(), now, window)));
        RolloutController.Status s = lastRollout;
        if (before != null && (s.phase() != before.phase() || s.step() != before.step() || s.canaryWeight() != before.canaryWeight()
                || !s.message().equals(before.message()))) {
            String reason = switch (s.phase()) {
                case DEGRADED -> s.message().startsWith("rolled back") ? "RolledBack" : s.message().startsWith("aborted") ? "Aborted" : "ProgressDeadlineExceeded";
                case HEALTHY -> s.retired() != null ? "Promoted" : "Healthy";
                case PAUSED -> "Paused";
                case PROGRESSING -> "Progressing";
            };
            event(now, s.phase() == RolloutController.Phase.DEGRADED ? "Warning" : "Normal", reason, s.message());
        }
    }

    private void scale(Group g, boolean active, long now) {
        Fleet.State state = fleet.state(g.key);
        List<Replica> serving = state.serving();
        int desired;
        String why;
        ModelDeployment.Pool p = poolOf(g.key.pool());
        if (!active) {
            desired = 0;
            why = "the version no longer serves";
        } else {
            ScalingSpec spec = ModelDeployments.scalingSpec(deployment, p.name());
            if (spec == null) {
                desired = p.minReplicas() == null ? 1 : p.minReplicas();
                g.last = new Autoscaler.Decision(state.current(), desired, "none", Double.NaN, Double.NaN, "no autoscaling: minReplicas", false);
            } else {
                if (g.scaler == null) {
                    g.scaler = new Autoscaler(spec);
                }
                List<ReplicaLoad> loads = new ArrayList<>(serving.stream().map(DeploymentController::load).toList());
                for (int i = 0; i < state.starting(); i++) {
                    loads.add(ReplicaLoad.starting());
                }
                g.last = g.scaler.decide(now, loads, 0);
                desired = g.last.desired();
            }
            why = g.last.reason();
        }
        fleet.scale(g.key, active ? sourceOf(g.key.version()) : null, active ? p : null, p == null ? 1 : ModelDeployments.capacity(deployment, p.name()),
                desired, why, now, this::event);
    }

    /** A replica's load for the autoscaler: GPU utilization where NVML reports it, else the engine's busy fraction. */
    static ReplicaLoad load(Replica r) {
        GetLoadResponse l = r.lastLoad();
        if (l == null || !r.admitted()) {
            return ReplicaLoad.starting();
        }
        return new ReplicaLoad(true, l.hasGpuUtilization() ? l.getGpuUtilization() : l.getBusyFraction(), l.getQueueDepth(), l.getKvUsage());
    }

    // ------------------------------------------------------------------ admin

    /** Appends a version as the new target of the applied deployment (a canary rollout to it starts). */
    public synchronized DeploymentStatus addVersion(String name, String source) {
        requireDeployment();
        var s = deployment.spec();
        if (s.versions().stream().anyMatch(v -> v.name().equals(name))) {
            throw new ModelDeployments.InvalidDeploymentException("version " + name + " is listed already");
        }
        List<ModelDeployment.Version> versions = new ArrayList<>(s.versions());
        versions.add(new ModelDeployment.Version(name, source));
        apply(new ModelDeployment(deployment.apiVersion(), deployment.kind(), deployment.metadata(),
                new ModelDeployment.Spec(s.model(), versions, s.pools(), s.autoscaling(), s.rollout())));
        return status();
    }

    public synchronized DeploymentStatus promote() {
        requireDeployment();
        lastRollout = rollout.promote(clock.getAsLong());
        tick();
        return status();
    }

    public synchronized DeploymentStatus abort(String who) {
        requireDeployment();
        long now = clock.getAsLong();
        lastRollout = rollout.abort(now, who);
        event(now, "Warning", "Aborted", lastRollout.message());
        tick();
        return status();
    }

    public synchronized DeploymentStatus pause() {
        requireDeployment();
        lastRollout = rollout.pause(clock.getAsLong());
        tick();
        return status();
    }

    public synchronized DeploymentStatus resume() {
        requireDeployment();
        lastRollout = rollout.resume(clock.getAsLong());
        tick();
        return status();
    }

    public synchronized DeploymentStatus setWeight(int weight) {
        requireDeployment();
        lastRollout = rollout.setWeight(clock.getAsLong(), weight);
        tick();
        return status();
    }

    private void requireDeployment() {
        if (deployment == null) {
            throw new IllegalStateException("no deployment has been applied");
        }
    }

    /** Hears every event from now on (the admin API's watch); returns a handle that stops it. */
    public Runnable watch(Consumer<DeploymentStatus.Event> listener) {
        listeners.add(listener);
        return () -> listeners.remove(listener);
    }

    private void event(long now, String type, String reason, String message) {
        var e = new DeploymentStatus.Event(now, type, reason, message);
        events.addLast(e);
        while (events.size() > EVENTS) {
            events.removeFirst();
        }
        if (type.equals("Warning")) {
            LOG.warnf("%s: %s", reason, message);
        } else {
            LOG.infof("%s: %s", reason, message);
        }
        for (var l : listeners) {
            try {
                l.accept(e);
            } catch (RuntimeException ex) {
                listeners.remove(l);
            }
        }
    }

    // ------------------------------------------------------------------ status

    private void updateConditions(long now) {
        boolean ready = !pool.admitted(rollout.stable()).isEmpty();
        condition(now, "Ready", ready, ready ? "StableServing" : "NoReplicaReady", ready ? rollout.stable() + " serves"
                : "no replica of " + rollout.stable() + " is ready yet");
        var s = lastRollout;
        boolean progressing = s.phase() == RolloutController.Phase.PROGRESSING || s.phase() == RolloutController.Phase.PAUSED;
        condition(now, "Progressing", progressing, switch (s.phase()) {
            case PROGRESSING -> "RolloutInProgress";
            case PAUSED -> "RolloutPaused";
            case HEALTHY -> "RolloutComplete";
            case DEGRADED -> s.message().startsWith("rolled back") ? "RolledBack" : s.message().startsWith("aborted") ? "Aborted" : "ProgressDeadlineExceeded";
        }, s.message());
        boolean degraded = s.phase() == RolloutController.Phase.DEGRADED;
        condition(now, "Degraded", degraded, degraded ? conditions.get("Progressing").reason() : "AsExpected", degraded ? s.message() : "");
        String limited = null;
        String limitedReason = null;
        for (Group g : groups.values()) {
            Fleet.State st = fleet.state(g.key);
            if (st.limitedReason() != null) {
                limited = st.limited();
                limitedReason = st.limitedReason();
                break;
            }
            if (g.last != null && g.last.limited() && g.last.reason().contains("maxReplicas")) {
                limited = g.key.version() + " in pool " + g.key.pool() + ": " + g.last.reason();
                limitedReason = "MaxReplicas";
                break;
            }
        }
        condition(now, "ScalingLimited", limited != null, limited == null ? "AsExpected" : limitedReason, limited == null ? "" : limited);
    }

    private void condition(long now, String type, boolean status, String reason, String message) {
        String st = status ? "True" : "False";
        var old = conditions.get(type);
        long since = old != null && old.status().equals(st) ? old.lastTransitionTime() : now;
        conditions.put(type, new DeploymentStatus.Condition(type, st, reason, message, since, generation));
    }

    public synchronized DeploymentStatus status() {
        if (deployment == null) {
            return new DeploymentStatus("", servedModel, 0, List.of(), List.of(), null, List.of(), List.copyOf(events));
        }
        var s = lastRollout;
        var selector = rollout.selector();
        long total = selector.versions().stream().mapToLong(w -> w.weight()).sum();
        List<DeploymentStatus.VersionStatus> versions = new ArrayList<>();
        Set<String> names = new LinkedHashSet<>();
        deployment.spec().versions().forEach(v -> names.add(v.name()));
        groups.keySet().forEach(k -> names.add(k.version()));
        for (String v : names) {
            int weight = (int) Math.round(100.0 * selector.versions().stream().filter(w -> w.version().equals(v)).mapToLong(w -> w.weight()).sum() / total);
            List<DeploymentStatus.PoolReplicas> pools = new ArrayList<>();
            for (Group g : groups.values()) {
                Fleet.State st = fleet.state(g.key);
                if (!g.key.version().equals(v) || st.current() == 0 && st.draining() == 0 && (g.last == null || !activeVersions().contains(v))) {
                    continue;
                }
                int ready = (int) st.serving().stream().filter(Replica::admitted).count();
                int draining = st.draining();
                int desired = activeVersions().contains(v) && g.last != null ? g.last.desired() : 0;
                pools.add(new DeploymentStatus.PoolReplicas(g.key.pool(), ready, desired, draining));
            }
            versions.add(new DeploymentStatus.VersionStatus(v, sourceOf(v), weight, pools));
        }
        DeploymentStatus.Analysis a = null;
        if (s.lastAnalysis() != null) {
            a = new DeploymentStatus.Analysis(s.lastAnalysis().verdict().name(), s.lastAnalysis().reason(), s.lastAnalysis().checks().stream()
                    .map(c -> new DeploymentStatus.Check(c.metric(), c.canary(), c.stable(), c.threshold(), c.verdict().name())).toList());
        }
        String phase = switch (s.phase()) {
            case HEALTHY -> "Healthy";
            case PROGRESSING -> "Progressing";
            case PAUSED -> "Paused";
            case DEGRADED -> "Degraded";
        };
        var r = new DeploymentStatus.RolloutStatus(phase, s.stable(), s.canary(), s.canaryWeight(), s.step(), rollout.steps(), s.message(), a);
        List<DeploymentStatus.Scaling> scaling = new ArrayList<>();
        for (Group g : groups.values()) {
            if (g.last == null) {
                continue;
            }
            var lastEvent = g.scaler == null || g.scaler.events().isEmpty() ? null : g.scaler.events().getLast();
            scaling.add(new DeploymentStatus.Scaling(g.key.version(), g.key.pool(), fleet.state(g.key).current(), activeVersions().contains(g.key.version()) ? g.last.desired() : 0,
                    g.last.metric(), g.last.reason(), lastEvent == null ? 0 : lastEvent.timeMillis(), lastEvent == null ? "" : lastEvent.reason()));
        }
        return new DeploymentStatus(deployment.metadata().name(), servedModel, generation, List.copyOf(conditions.values()), versions, r, scaling,
                List.copyOf(events));
    }

    /** Stops the loop and closes the fleet: locally every replica it started stops; on Kubernetes the workloads stay. */
    @Override
    public synchronized void close() {
        if (thread != null) {
            thread.shutdownNow();
        }
        fleet.close();
    }
}
