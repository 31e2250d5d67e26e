package io.boundless.router.kubernetes;

import io.boundless.router.control.DeploymentController;
import io.boundless.router.control.Router;
import io.boundless.router.endpoints.ReplicaPool;
import io.boundless.router.rollout.DeploymentStatus;
import io.boundless.router.rollout.ModelDeployments;
import io.boundless.router.rollout.VersionSelector;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.api.model.ObjectReferenceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderCallbacks;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.javaoperatorsdk.operator.Operator;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfigurationBuilder;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongSupplier;
import org.jboss.logging.Logger;

/**
 * The router as the operator of its ModelDeployment, on the Java Operator SDK. Every router replica serves traffic:
 * it discovers the inference replicas through EndpointSlices and follows the traffic split the leader writes into
 * the resource's status. One of them, the holder of a {@code Lease}, also reconciles: it runs the
 * {@link DeploymentController} on a {@link KubernetesFleet} (rollout, analysis, autoscaling), writes the status
 * (conditions with observedGeneration, the split, replicas) and records Kubernetes Events. A new leader takes the
 * rollout up where the status says it was.
 */
public final class ModelDeploymentOperator implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ModelDeploymentOperator.class);

    /** Leader election's timing (Kubernetes' own controllers: 15 s, 10 s, 2 s). */
    public record LeaseTiming(String lease, String identity, Duration duration, Duration renewDeadline, Duration retryPeriod) {}

    private final KubernetesClient client;
    private final KubernetesSettings settings;
    private final ReplicaPool pool;
    private final Router router;
    private final String servedModel;
    private final LeaseTiming lease;
    private final Duration interval;
    private final LongSupplier clock;
    private final AtomicReference<ModelDeploymentResource> last = new AtomicReference<>();
    private final EndpointSliceDiscovery discovery;
    private volatile boolean leading;
    private DeploymentController controller;
    private Long appliedGeneration;
    private String invalid;
    private long invalidSince;
    private Operator operator;
    private SharedIndexInformer<ModelDeploymentResource> follower;
    private Runnable unwatch;
    private volatile java.util.function.Consumer<DeploymentController> onController = c -> {};

    /** Called with each controller this replica makes when it comes to lead (the metrics follow it). */
    public ModelDeploymentOperator onController(java.util.function.Consumer<DeploymentController> listener) {
        this.onController = listener;
        return this;
    }

    public ModelDeploymentOperator(KubernetesClient client, KubernetesSettings settings, ReplicaPool pool, Router router, String servedModel, LeaseTiming lease,
            Duration interval, LongSupplier clock) {
        this.client = client;
        this.settings = settings;
        this.pool = pool;
        this.router = router;
        this.servedModel = servedModel;
        this.lease = lease;
        this.interval = interval;
        this.clock = clock;
        this.discovery = new EndpointSliceDiscovery(client, settings.namespace(), settings.deployment(), pool);
    }

    public ModelDeploymentOperator start() {
        discovery.start();
        follower = client.resources(ModelDeploymentResource.class).inNamespace(settings.namespace()).withName(settings.deployment())
                .inform(new ResourceEventHandler<>() {
                    @Override
                    public void onAdd(ModelDeploymentResource md) {
                        follow(md);
                    }

                    @Override
                    public void onUpdate(ModelDeploymentResource a, ModelDeploymentResource md) {
                        follow(md);
                    }

                    @Override
                    public void onDelete(ModelDeploymentResource md, boolean unknown) {}
                }, 0);
        operator = new Operator(o -> o.withKubernetesClient(client).withCloseClientOnStop(false).withUseSSAToPatchPrimaryResource(false)
                .withStopOnInformerErrorDuringStartup(false)
                .withLeaderElectionConfiguration(LeaderElectionConfigurationBuilder.aLeaderElectionConfiguration(lease.lease())
                        .withLeaseNamespace(settings.namespace()).withIdentity(lease.identity()).withLeaseDuration(lease.duration())
                        .withRenewDeadline(lease.renewDeadline()).withRetryPeriod(lease.retryPeriod()).withExitOnStopLeading(false)
                        .withLeaderCallbacks(new LeaderCallbacks(this::startedLeading, this::stoppedLeading, id -> LOG.infof("the leader is %s", id)))
                        .build()));
        operator.register(new ModelDeploymentReconciler(), o -> o.settingNamespace(settings.namespace()));
        operator.start();
        return this;
    }

    /** Whether this router replica is the leader now. */
    public boolean leading() {
        return leading;
    }

    /** The leader's controller (admin operations), or null on a follower. */
    public synchronized DeploymentController controller() {
        return leading ? controller : null;
    }

    private void startedLeading() {
        LOG.infof("%s leads %s/%s", lease.identity(), settings.namespace(), settings.deployment());
        leading = true;
    }

    private synchronized void stoppedLeading() {
        LOG.infof("%s no longer leads %s/%s", lease.identity(), settings.namespace(), settings.deployment());
        leading = false;
        if (controller != null) {
            if (unwatch != null) {
                unwatch.run();
            }
            controller.close();  // its loop and its fleet's informers; the workloads stay for the next leader
            controller = null;
            appliedGeneration = null;
        }
        ModelDeploymentResource md = last.get();
        if (md != null) {
            follow(md);
        }
    }

    /** A follower routes as the leader's status says (the leader routes from its own controller). */
    private void follow(ModelDeploymentResource md) {
        if (!settings.deployment().equals(md.getMetadata().getName())) {
            return;
        }
        last.set(md);
        if (leading) {
            return;
        }
        // the edits served over another version's replicas, as the leader serves them
        pool.deltaVersions(io.boundless.router.rollout.ModelDeployments.deltaVersions(md.getSpec()));
        var st = md.getSpec() == null || md.getSpec().rollout() == null ? null : md.getSpec().rollout().stickiness();
        router.stickiness(st == null || st.header() == null ? "x-session-id" : st.header(), st == null || st.user() == null || st.user());
        var s = md.getStatus();
        if (s != null && s.stable != null) {
            List<VersionSelector.Weighted> w = new ArrayList<>();
            for (var t : s.traffic) {
                if (t.weight() != null && t.weight() > 0) {
                    w.add(new VersionSelector.Weighted(t.version(), t.weight()));
                }
            }
            router.route(new VersionSelector(w.isEmpty() ? List.of(new VersionSelector.Weighted(s.stable, 100)) : w), s.stable);
        } else if (md.getSpec() != null && md.getSpec().versions() != null && !md.getSpec().versions().isEmpty()) {
            String first = md.getSpec().versions().getFirst().name();  // no leader has written a status yet
            router.route(new VersionSelector(List.of(new VersionSelector.Weighted(first, 100))), first);
        }
    }

    @ControllerConfiguration(name = "modeldeployment")
    final class ModelDeploymentReconciler implements Reconciler<ModelDeploymentResource> {
        @Override
        public UpdateControl<ModelDeploymentResource> reconcile(ModelDeploymentResource md, Context<ModelDeploymentResource> context) {
            if (!settings.deployment().equals(md.getMetadata().getName())) {
                return UpdateControl.noUpdate();  // another router's
            }
            return ModelDeploymentOperator.this.reconcile(md);
        }
    }

    synchronized UpdateControl<ModelDeploymentResource> reconcile(ModelDeploymentResource md) {
        last.set(md);
        if (controller == null) {
            controller = new DeploymentController(servedModel, pool, new KubernetesFleet(client, settings, pool, last::get), router, clock);
            unwatch = controller.watch(this::record);
            onController.accept(controller);
        }
        long generation = md.getMetadata().getGeneration() == null ? 0 : md.getMetadata().getGeneration();
        if (appliedGeneration == null || appliedGeneration != generation) {
            try {
                var s = md.getStatus();
                controller.apply(md.toDeployment(), s == null || s.stable == null ? null
                        : new DeploymentController.Prior(s.stable, s.canary, s.phase, s.step == null ? 0 : s.step, s.canaryWeight == null ? 0 : s.canaryWeight));
                if (appliedGeneration == null) {
                    controller.start(interval);
                }
                invalid = null;
            } catch (ModelDeployments.InvalidDeploymentException e) {
                if (invalid == null) {
                    invalidSince = clock.getAsLong();
                }
                invalid = e.getMessage();
                record(new DeploymentStatus.Event(clock.getAsLong(), "Warning", "InvalidSpec", "generation " + generation + " not applied: " + e.getMessage()));
                if (appliedGeneration == null) {
                    controller.start(interval);  // nothing applied: the loop waits for a valid spec
                }
            }
            appliedGeneration = generation;
        }
        var status = status(controller.status(), generation);
        if (!Serialization.asJson(status).equals(md.getStatus() == null ? "" : Serialization.asJson(md.getStatus()))) {
            md.setStatus(status);
            return UpdateControl.patchStatus(md).rescheduleAfter(interval);
        }
        return UpdateControl.<ModelDeploymentResource>noUpdate().rescheduleAfter(interval);
    }

    /** The status subresource from the controller's status. */
    ModelDeploymentResource.Status status(DeploymentStatus s, long generation) {
        var out = new ModelDeploymentResource.Status();
        out.observedGeneration = generation;
        for (var c : s.conditions()) {
            out.conditions.add(condition(c.type(), c.status(), c.reason(), c.message(), c.lastTransitionTime(), generation));
        }
        if (invalid != null) {
            out.conditions.add(condition("SpecValid", "False", "InvalidSpec", invalid, invalidSince, generation));
        }
        var r = s.rollout();
        if (r != null) {
            out.phase = r.phase();
            out.stable = r.stable();
            out.canary = r.canary();
            out.canaryWeight = r.canaryWeight();
            out.step = r.step();
            out.steps = r.steps();
            out.message = r.message();
            if (r.lastAnalysis() != null) {
                out.lastAnalysis = new ModelDeploymentResource.Analysis(r.lastAnalysis().verdict(), r.lastAnalysis().reason(), r.lastAnalysis().checks().stream()
                        .map(c -> new ModelDeploymentResource.Check(c.metric(), finite(c.canary()), finite(c.stable()), c.threshold(), c.verdict())).toList());
            }
            if (r.canary() != null && r.canaryWeight() > 0) {
                out.traffic.add(new ModelDeploymentResource.Traffic(r.canary(), r.canaryWeight()));
            }
            out.traffic.add(new ModelDeploymentResource.Traffic(r.stable(), 100 - (r.canary() == null ? 0 : r.canaryWeight())));
        }
        int ready = 0;
        for (var v : s.versions()) {
            List<ModelDeploymentResource.PoolReplicas> pools = new ArrayList<>();
            for (var p : v.pools()) {
                pools.add(new ModelDeploymentResource.PoolReplicas(p.pool(), p.ready(), p.desired(), p.draining()));
                ready += p.ready();
            }
            out.versions.add(new ModelDeploymentResource.VersionStatus(v.name(), v.source(), v.weight(), pools));
        }
        out.readyReplicas = ready;
        for (var x : s.scaling()) {
            out.scaling.add(new ModelDeploymentResource.Scaling(x.version(), x.pool(), x.current(), x.desired(), x.metric(), x.reason()));
        }
        return out;
    }

    private static Double finite(double d) {
        return Double.isFinite(d) ? d : null;
    }

    private static Condition condition(String type, String status, String reason, String message, long since, long generation) {
        return new ConditionBuilder().withType(type).withStatus(status).withReason(reason).withMessage(message)
                .withLastTransitionTime(Instant.ofEpochMilli(since).truncatedTo(java.time.temporal.ChronoUnit.SECONDS).toString())
                .withObservedGeneration(generation).build();
    }

    /** An Event already written, and how often it happened: a repeat within 10 minutes counts up instead of adding one. */
    private record Recorded(String name, int count, long time) {}

    private final java.util.Map<String, Recorded> recorded = new java.util.LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(java.util.Map.Entry<String, Recorded> eldest) {
            return size() > 256;
        }
    };

    /**
     * A controller event as a Kubernetes Event on the resource, aggregated as the kubelet's are (the same reason and
     * message again within 10 minutes raises the count). Best effort: an event that cannot be written is logged.
     */
    private void record(DeploymentStatus.Event e) {
        ModelDeploymentResource md = last.get();
        if (md == null || !leading) {
            return;
        }
        synchronized (recorded) {  // not the operator's lock: the controller's thread calls this holding its own
            record(md, e);
        }
    }

    private void record(ModelDeploymentResource md, DeploymentStatus.Event e) {
        try {
            String now = Instant.ofEpochMilli(e.time()).truncatedTo(java.time.temporal.ChronoUnit.SECONDS).toString();
            String key = e.type() + "/" + e.reason() + "/" + e.message();
            Recorded before = recorded.get(key);
            if (before != null && e.time() - before.time() < 600_000) {
                recorded.put(key, new Recorded(before.name(), before.count() + 1, before.time()));
                // a merge patch, no read first (the Role grants events create and patch only)
                client.v1().events().inNamespace(settings.namespace()).withName(before.name()).patch(
                        io.fabric8.kubernetes.client.dsl.base.PatchContext.of(io.fabric8.kubernetes.client.dsl.base.PatchType.JSON_MERGE),
                        "{\"count\":" + (before.count() + 1) + ",\"lastTimestamp\":\"" + now + "\"}");
                return;
            }
            String name = md.getMetadata().getName() + "." + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong());
            recorded.put(key, new Recorded(name, 1, e.time()));
            client.v1().events().inNamespace(settings.namespace()).resource(new EventBuilder()
                    .withNewMetadata().withName(name)
                    .withNamespace(settings.namespace()).endMetadata()
                    .withInvolvedObject(new ObjectReferenceBuilder().withApiVersion(md.getApiVersion()).withKind(md.getKind()).withName(md.getMetadata().getName())
                            .withNamespace(settings.namespace()).withUid(md.getMetadata().getUid()).build())
                    .withType(e.type()).withReason(e.reason()).withMessage(e.message().length() > 1024 ? e.message().substring(0, 1024) : e.message())
                    .withFirstTimestamp(now).withLastTimestamp(now).withCount(1)
                    .withNewSource().withComponent("boundless-router").withHost(lease.identity()).endSource()
                    .withReportingComponent("boundless.io/router").withReportingInstance(lease.identity())
                    .build()).create();
        } catch (RuntimeException ex) {
            LOG.warnf("could not record the event %s: %s", e.reason(), ex.getMessage());
        }
    }

    @Override
    public synchronized void close() {
        if (operator != null) {
            try {
                operator.stop();
            } catch (RuntimeException e) {
                LOG.warnf("stopping the operator: %s", e.getMessage());
            }
        }
        if (controller != null) {
            controller.close();
            controller = null;
        }
        leading = false;
        if (follower != null) {
            follower.close();
        }
        discovery.close();
    }
}
