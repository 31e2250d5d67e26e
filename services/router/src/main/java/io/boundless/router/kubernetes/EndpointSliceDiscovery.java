package io.boundless.router.kubernetes;

import io.boundless.router.endpoints.Replica;
import io.boundless.router.endpoints.ReplicaPool;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.jboss.logging.Logger;

/**
 * Every router replica finds the inference replicas through informers on the operator's Services (which name the
 * version, pool and capacity in their labels) and their EndpointSlices. An endpoint that is ready joins the router's
 * pool; one that is terminating, or not ready, gets no new requests but keeps its streams; one that is gone leaves the
 * pool. The terminating state is the drain handshake: a Pod being deleted turns terminating on every router at once,
 * its preStop drain refuses what still arrives meanwhile (the router retries it elsewhere) and lets its streams finish.
 */
public final class EndpointSliceDiscovery implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(EndpointSliceDiscovery.class);

    private record Target(String version, String pool, double capacity) {}

    private final KubernetesClient client;
    private final String namespace;
    private final String deployment;
    private final ReplicaPool pool;
    private final Set<String> heldNotReady = new HashSet<>();  // addresses this discovery drained because not ready
    private SharedIndexInformer<Service> services;
    private SharedIndexInformer<EndpointSlice> slices;

    public EndpointSliceDiscovery(KubernetesClient client, String namespace, String deployment, ReplicaPool pool) {
        this.client = client;
        this.namespace = namespace;
        this.deployment = deployment;
        this.pool = pool;
    }

    public synchronized EndpointSliceDiscovery start() {
        ResourceEventHandler<Object> h = new ResourceEventHandler<>() {
            @Override
            public void onAdd(Object o) {
                sync();
            }

            @Override
            public void onUpdate(Object a, Object b) {
                sync();
            }

            @Override
            public void onDelete(Object o, boolean unknown) {
                sync();
            }
        };
        services = client.services().inNamespace(namespace).withLabel(KubernetesSettings.DEPLOYMENT, deployment).inform((ResourceEventHandler) h, 0);
        slices = client.discovery().v1().endpointSlices().inNamespace(namespace).inform((ResourceEventHandler) h, 0);
        sync();
        return this;
    }

    /** Brings the pool in line with the informers' caches (every change, from the informers' thread). */
    public synchronized void sync() {
        if (services == null || slices == null) {
            return;
        }
        Map<String, Target> targets = new HashMap<>();
        for (Service s : services.getStore().list()) {
            var l = s.getMetadata().getLabels();
            try {
                targets.put(s.getMetadata().getName(), new Target(l.get(KubernetesSettings.VERSION), l.get(KubernetesSettings.POOL),
                        Double.parseDouble(l.getOrDefault(KubernetesSettings.CAPACITY, "1"))));
            } catch (RuntimeException e) {
                LOG.warnf("Service %s has unusable boundless.io labels: %s", s.getMetadata().getName(), e.getMessage());
            }
        }
        record Seen(Target target, boolean ready, boolean terminating) {}
        Map<String, Seen> seen = new HashMap<>();
        for (EndpointSlice es : slices.getStore().list()) {
            var labels = es.getMetadata().getLabels();
            Target t = labels == null ? null : targets.get(labels.get("kubernetes.io/service-name"));
            if (t == null || t.version() == null || t.pool() == null || es.getPorts() == null) {
                continue;
            }
            Integer port = es.getPorts().stream().filter(p -> "grpc".equals(p.getName())).map(p -> p.getPort()).findFirst().orElse(null);
            if (port == null || es.getEndpoints() == null) {
                continue;
            }
            for (Endpoint e : es.getEndpoints()) {
                if (e.getAddresses() == null || e.getAddresses().isEmpty()) {
                    continue;
                }
                var c = e.getConditions();
                boolean terminating = c != null && Boolean.TRUE.equals(c.getTerminating());
                // ready is unset: treat as ready (the API's own rule); serving without ready is a terminating endpoint
                boolean ready = c == null || c.getReady() == null || c.getReady();
                String address = e.getAddresses().getFirst() + ":" + port;
                seen.merge(address, new Seen(t, ready && !terminating, terminating), (a, b) -> a.ready() ? a : b);
            }
        }
        Map<String, Replica> current = new HashMap<>();
        for (Replica r : pool.all()) {
            current.put(r.address(), r);
        }
        for (var e : seen.entrySet()) {
            Replica r = current.get(e.getKey());
            Seen s = e.getValue();
            if (r == null) {
                if (s.ready()) {
                    pool.add(new Replica(e.getKey(), s.target().version(), s.target().pool(), s.target().capacity()));
                    LOG.infof("discovered inference replica %s (%s in pool %s)", e.getKey(), s.target().version(), s.target().pool());
                }
                continue;
            }
            if (s.terminating()) {
                if (r.state() != Replica.State.DRAINING) {
                    LOG.infof("inference replica %s is terminating: no new requests, its %d streams go on", r, r.outstanding());
                }
                r.drain();
                heldNotReady.remove(e.getKey());
            } else if (!s.ready()) {
                if (r.state() != Replica.State.DRAINING) {
                    heldNotReady.add(e.getKey());
                    r.drain();
                }
            } else if (heldNotReady.remove(e.getKey())) {
                r.undrain();
            }
        }
        for (var e : current.entrySet()) {
            if (!seen.containsKey(e.getKey())) {
                LOG.infof("inference replica %s left", e.getKey());
                heldNotReady.remove(e.getKey());
                pool.remove(e.getValue());
            }
        }
    }

    /** The (version, pool) of each known Service, for tests. */
    public synchronized List<String> services() {
        return services == null ? List.of() : services.getStore().list().stream().map(s -> s.getMetadata().getName()).toList();
    }

    @Override
    public synchronized void close() {
        if (services != null) {
            services.close();
        }
        if (slices != null) {
            slices.close();
        }
    }
}
