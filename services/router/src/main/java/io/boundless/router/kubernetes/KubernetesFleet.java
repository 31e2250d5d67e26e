package io.boundless.router.kubernetes;

import io.boundless.router.control.Fleet;
import io.boundless.router.endpoints.Replica;
import io.boundless.router.endpoints.ReplicaPool;
import io.boundless.router.rollout.ModelDeployment;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import org.jboss.logging.Logger;

/**
 * The fleet on Kubernetes: a Deployment, a headless Service and a PodDisruptionBudget per (version, pool), owned by
 * the ModelDeployment.
 * Objects are written by server-side apply under the field manager {@code boundless-router}, and only when what the
 * operator would write changed (reconciles are idempotent); the replica count goes through the Deployment's scale
 * subresource. Scaling down first marks the Pods to remove (the least busy, by {@code pod-deletion-cost}) and stops
 * sending them requests; Kubernetes then deletes them, their endpoints turn terminating on every router, and their
 * preStop drain ({@code GET /drain}: new requests refused, answered once the running ones finished) runs before SIGTERM. A (version, pool) that no longer serves is scaled to zero
 * and its objects are deleted once its Pods are gone. While a pool has Pods the scheduler cannot place, no replica is
 * added there (ScalingLimited, with the scheduler's reason); the Pending ones stay, for a cluster autoscaler to act on.
 */
public final class KubernetesFleet implements Fleet {
    private static final Logger LOG = Logger.getLogger(KubernetesFleet.class);
    static final String DELETION_COST = "controller.kubernetes.io/pod-deletion-cost";

    private final KubernetesClient client;
    private final KubernetesSettings settings;
    private final ReplicaPool pool;
    private final Supplier<ModelDeploymentResource> resource;
    private final Map<Key, String> applied = new HashMap<>();  // what was last applied, as JSON, per (version, pool)
    private final Map<Key, String> appliedKeda = new HashMap<>();
    private final Map<Key, Observed> observed = new HashMap<>();
    private final Set<Key> known = new HashSet<>();
    // our writes the informers' caches may not show yet: replica counts set, Deployments created, Deployments deleted
    private final Map<Key, Integer> wrote = new HashMap<>();
    private final Set<Key> created = new HashSet<>();
    private final Set<Key> deleted = new HashSet<>();
    private io.fabric8.kubernetes.client.informers.SharedIndexInformer<Deployment> deploymentInformer;
    private io.fabric8.kubernetes.client.informers.SharedIndexInformer<Pod> podInformer;

    /** A (version, pool) as the cluster has it: its Deployment's replica count and its Pods. */
    private record Observed(int specReplicas, List<Pod> pods) {}

    /**
     * @param resource the ModelDeployment as last read (its uid for owner references, its spec for the Pods)
     */
    public KubernetesFleet(KubernetesClient client, KubernetesSettings settings, ReplicaPool pool, Supplier<ModelDeploymentResource> resource) {
        this.client = client;
        this.settings = settings;
        this.pool = pool;
        this.resource = resource;
    }

    @Override
    public void observe(long now, Events events) {
        if (deploymentInformer == null) {
            // informers, not a list per tick: the leader reads its Deployments and Pods from caches the API server keeps current
            deploymentInformer = client.apps().deployments().inNamespace(settings.namespace())
                    .withLabel(KubernetesSettings.DEPLOYMENT, settings.deployment()).inform();
            podInformer = client.pods().inNamespace(settings.namespace()).withLabel(KubernetesSettings.DEPLOYMENT, settings.deployment()).inform();
        }
        if (!synced()) {
            return;
        }
        observed.clear();
        known.clear();
        List<Pod> pods = podInformer.getStore().list();
        Set<Key> inCache = new HashSet<>();
        for (Deployment d : deploymentInformer.getStore().list()) {
            Key k = key(d.getMetadata().getLabels());
            if (k == null) {
                continue;
            }
            inCache.add(k);
            if (deleted.contains(k)) {
                continue;  // deleted; the cache has not heard yet
            }
            int spec = d.getSpec().getReplicas() == null ? 1 : d.getSpec().getReplicas();
            Integer w = wrote.get(k);
            if (w != null && w == spec) {
                wrote.remove(k);  // the cache has caught up with our last write
            } else if (w != null) {
                spec = w;
            }
            created.remove(k);
            known.add(k);
            observed.put(k, new Observed(spec, pods.stream().filter(p -> k.equals(key(p.getMetadata().getLabels()))).toList()));
        }
        for (Key k : created) {  // created; the cache has not heard yet
            known.add(k);
            observed.put(k, new Observed(wrote.getOrDefault(k, 0), List.of()));
        }
        deleted.retainAll(inCache);
        applied.keySet().retainAll(known);
        appliedKeda.keySet().retainAll(known);
    }

    private boolean synced() {
        return deploymentInformer != null && deploymentInformer.hasSynced() && podInformer.hasSynced();
    }

    private static Key key(Map<String, String> labels) {
        if (labels == null || labels.get(KubernetesSettings.VERSION) == null || labels.get(KubernetesSettings.POOL) == null) {
            return null;
        }
        return new Key(labels.get(KubernetesSettings.VERSION), labels.get(KubernetesSettings.POOL));
    }

    private static boolean terminating(Pod p) {
        return p.getMetadata().getDeletionTimestamp() != null;
    }

    /** Why the scheduler cannot place a Pod, or null. */
    private static String unschedulable(Pod p) {
        if (p.getStatus() == null || !"Pending".equals(p.getStatus().getPhase()) || p.getStatus().getConditions() == null) {
            return null;
        }
        for (PodCondition c : p.getStatus().getConditions()) {
            if ("PodScheduled".equals(c.getType()) && "False".equals(c.getStatus()) && "Unschedulable".equals(c.getReason())) {
                return c.getMessage() == null ? "unschedulable" : c.getMessage();
            }
        }
        return null;
    }

    /** A container's crash loop, in one line, or null. */
    private static String crashLooping(Pod p) {
        if (p.getStatus() == null || p.getStatus().getContainerStatuses() == null) {
            return null;
        }
        for (var cs : p.getStatus().getContainerStatuses()) {
            var w = cs.getState() == null ? null : cs.getState().getWaiting();
            if (w != null && "CrashLoopBackOff".equals(w.getReason())) {
                var last = cs.getLastState() == null ? null : cs.getLastState().getTerminated();
                return "Pod " + p.getMetadata().getName() + " is crash-looping (" + cs.getRestartCount() + " restarts"
                        + (last == null ? "" : ", last exit " + last.getExitCode() + (last.getReason() == null ? "" : " " + last.getReason())) + ")";
            }
        }
        return null;
    }

    @Override
    public State state(Key key) {
        Observed o = observed.get(key);
        List<Replica> serving = pool.all().stream()
                .filter(r -> r.version().equals(key.version()) && r.pool().equals(key.pool()) && r.state() != Replica.State.DRAINING).toList();
        if (o == null) {
            return new State(serving, 0, 0, null, null);
        }
        int live = (int) o.pods().stream().filter(p -> !terminating(p)).count();
        int terminating = o.pods().size() - live;
        // pods the routers cannot reach yet (no ready endpoint) count as replicas without load; the spec's count covers
        // pods the ReplicaSet has yet to create
        int starting = Math.max(0, Math.max(live, o.specReplicas()) - serving.size());
        String reason = null;
        String message = null;
        for (Pod p : o.pods()) {
            String u = unschedulable(p);
            if (u != null) {
                reason = "Unschedulable";
                message = key.version() + " in pool " + key.pool() + ": Pod " + p.getMetadata().getName() + " cannot be scheduled: " + u;
                break;
            }
            String c = crashLooping(p);
            if (c != null && reason == null) {
                reason = "ReplicasExiting";
                message = key.version() + " in pool " + key.pool() + ": " + c;
            }
        }
        return new State(serving, starting, terminating, reason, message);
    }

    @Override
    public Set<Key> keys() {
        return Set.copyOf(known);
    }

    @Override
    public void scale(Key key, String source, ModelDeployment.Pool p, double capacity, int desired, String why, long now, Events events) {
        ModelDeploymentResource md = resource.get();
        String name = Workloads.name(settings.deployment(), key.version(), key.pool());
        if (!synced()) {
            return;  // nothing is known of the cluster yet
        }
        Observed o = observed.get(key);
        try {
            if (desired == 0 && (source == null || p == null)) {
                retire(key, name, o, now, events);
                return;
            }
            if (md == null || md.getMetadata().getUid() == null || source == null || p == null) {
                return;
            }
            var version = md.getSpec().versions().stream().filter(v -> v.name().equals(key.version())).findFirst().orElse(null);
            if (version == null) {
                return;
            }
            var deployment = Workloads.deployment(md, version, p, capacity, settings, o == null ? desired : null);
            var service = Workloads.service(md, key.version(), p, capacity, settings);
            var budget = Workloads.disruptionBudget(md, key.version(), p, capacity);
            String json = io.fabric8.kubernetes.client.utils.Serialization.asJson(List.of(deployment.getSpec().getTemplate(), deployment.getMetadata().getLabels(),
                    service.getSpec(), budget.getSpec()));
            if (o == null || !json.equals(applied.get(key))) {
                apply(service);
                apply(budget);
                apply(deployment);
                applied.put(key, json);
                known.add(key);
                if (o == null) {
                    deleted.remove(key);
                    created.add(key);
                    wrote.put(key, desired);
                    events.event(now, "Normal", "Created", "Deployment " + name + " for " + key.version() + " in pool " + key.pool() + " with " + desired
                            + " replica(s) (" + why + ")");
                    observed.put(key, new Observed(desired, List.of()));
                    return;
                }
            }
            if (settings.keda()) {
                var a = md.getSpec().autoscaling();
                double queue = a == null || a.targets() == null || a.targets().queueDepthPerReplica() == null ? 5 : a.targets().queueDepthPerReplica();
                var so = Workloads.scaledObject(md, key.version(), p, capacity, queue, settings);
                String soJson = io.fabric8.kubernetes.client.utils.Serialization.asJson(so.getAdditionalProperties());
                if (!soJson.equals(appliedKeda.get(key))) {
                    apply(so);
                    appliedKeda.put(key, soJson);
                }
                return;  // KEDA's HPA owns the replica count
            }
            int current = o.specReplicas();
            State st = state(key);
            int target = desired;
            if (target > current && st.limitedReason() != null && st.limitedReason().equals("Unschedulable")) {
                target = current;  // the Pending ones stay; no more until they are placed
            }
            if (target == current) {
                return;
            }
            if (target < current) {
                markForRemoval(o, current - target);
            }
            client.apps().deployments().inNamespace(settings.namespace()).withName(name).scale(target);
            wrote.put(key, target);
            events.event(now, "Normal", target > current ? "ScaledUp" : "ScaledDown", key.version() + " in pool " + key.pool() + ": " + current + " -> "
                    + target + " (" + why + ")" + (target < current ? "; draining " + (current - target) : ""));
            observed.put(key, new Observed(target, o.pods()));
        } catch (KubernetesClientException e) {
            LOG.warnf("could not reconcile %s: %s", name, e.getMessage());
            events.event(now, "Warning", "FailedReconcile", "Deployment " + name + ": " + (e.getStatus() == null ? e.getMessage()
                    : e.getCode() + " " + e.getStatus().getMessage()));
        }
    }

    /**
     * Server-side apply under our field manager (forcing: the operator owns these fields). An API server that does not
     * implement apply (Fabric8's mock server, which the tests run on, answers 404 for a new object and 415 for the
     * content type) gets the object created, or patched by a JSON merge patch, and is not asked to apply again.
     */
    private void apply(io.fabric8.kubernetes.api.model.HasMetadata o) {
        var r = client.resource(o);
        if (!applyRefused) {
            try {
                r.fieldManager(KubernetesSettings.FIELD_MANAGER).forceConflicts().serverSideApply();
                return;
            } catch (KubernetesClientException e) {
                if (e.getCode() != 415 && e.getCode() != 404) {
                    throw e;
                }
                applyRefused = true;
                LOG.warnf("the API server refuses server-side apply (%d %s): creating and merge-patching instead", e.getCode(), e.getMessage());
            }
        }
        if (r.get() == null) {
            r.create();
        } else {
            r.patch(io.fabric8.kubernetes.client.dsl.base.PatchContext.of(io.fabric8.kubernetes.client.dsl.base.PatchType.JSON_MERGE));
        }
    }

    private volatile boolean applyRefused;

    /** The least useful Pods first (not ready, then the least busy): they get a lower deletion cost and no new requests. */
    private void markForRemoval(Observed o, int n) {
        Map<String, Replica> byIp = new HashMap<>();
        for (Replica r : pool.all()) {
            byIp.put(r.address().substring(0, r.address().lastIndexOf(':')), r);
        }
        List<Pod> order = new ArrayList<>(o.pods().stream().filter(p -> !terminating(p)).toList());
        order.sort(Comparator.comparing((Pod p) -> {
            Replica r = p.getStatus() == null ? null : byIp.get(p.getStatus().getPodIP());
            return r != null && r.admitted();
        }).thenComparingInt(p -> {
            Replica r = p.getStatus() == null ? null : byIp.get(p.getStatus().getPodIP());
            return r == null ? 0 : r.outstanding();
        }));
        for (Pod p : order.subList(0, Math.min(n, order.size()))) {
            Replica r = p.getStatus() == null ? null : byIp.get(p.getStatus().getPodIP());
            if (r != null) {
                r.drain();
            }
            client.pods().inNamespace(settings.namespace()).withName(p.getMetadata().getName())
                    .edit(x -> new io.fabric8.kubernetes.api.model.PodBuilder(x).editMetadata().addToAnnotations(DELETION_COST, "-1000").endMetadata().build());
        }
    }

    /** A (version, pool) that no longer serves: to zero, then its objects go once its Pods are gone. */
    private void retire(Key key, String name, Observed o, long now, Events events) {
        if (o == null) {
            return;
        }
        if (o.specReplicas() > 0) {
            markForRemoval(o, o.specReplicas());
            client.apps().deployments().inNamespace(settings.namespace()).withName(name).scale(0);
            wrote.put(key, 0);
            events.event(now, "Normal", "ScaledDown", key.version() + " in pool " + key.pool() + ": " + o.specReplicas() + " -> 0 (the version no longer serves); draining "
                    + o.specReplicas());
            observed.put(key, new Observed(0, o.pods()));
            return;
        }
        if (!o.pods().isEmpty()) {
            return;  // still draining
        }
        client.apps().deployments().inNamespace(settings.namespace()).withName(name).delete();
        client.services().inNamespace(settings.namespace()).withName(name).delete();
        client.policy().v1().podDisruptionBudget().inNamespace(settings.namespace()).withName(name).delete();
        if (settings.keda()) {
            client.genericKubernetesResources("keda.sh/v1alpha1", "ScaledObject").inNamespace(settings.namespace()).withName(name).delete();
        }
        observed.remove(key);
        known.remove(key);
        applied.remove(key);
        appliedKeda.remove(key);
        wrote.remove(key);
        created.remove(key);
        deleted.add(key);
        events.event(now, "Normal", "Deleted", "Deployment, Service and PodDisruptionBudget " + name + " of " + key.version() + " in pool " + key.pool()
                + ": drained, and the version no longer serves");
    }

    /** Stops its informers; the cluster keeps the workloads, and the next leader takes them over. */
    @Override
    public void close() {
        if (deploymentInformer != null) {
            deploymentInformer.close();
            podInformer.close();
        }
    }
}
