package io.boundless.router;

import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/** Owns the {@link Gateway}: built and started with the application, closed at shutdown. */
@ApplicationScoped
public class RouterLifecycle {
    @Inject
    RouterConfig config;

    @Inject
    io.micrometer.core.instrument.MeterRegistry meters;

    private volatile Gateway gateway;
    private volatile io.boundless.router.control.DeploymentController controller;
    private volatile io.boundless.router.kubernetes.ModelDeploymentOperator operator;
    private io.fabric8.kubernetes.client.KubernetesClient kubernetes;
    private volatile io.boundless.router.control.DeploymentMetrics metrics;

    void onStart(@Observes StartupEvent event) throws java.io.IOException {
        try {
            Gateway g = gateway();
            reasoning();  // a bad exemplar set stops the router here, with its reason
            if (config.kubernetes().enabled()) {
                operator = operator(g);
            } else if (config.deployment().isPresent()) {
                controller = deploymentController(g);
            }
        } catch (IllegalArgumentException | IllegalStateException e) {
            // a configuration that cannot run (TLS files, a policy name, an exemplar set, a deployment file): one clear
            // line and exit status 1, as the other services' start checks, not a stack trace
            org.jboss.logging.Logger.getLogger(RouterLifecycle.class).error("cannot start: " + e.getMessage());
            org.jboss.logging.Logger.getLogger(RouterLifecycle.class).debug("cannot start", e);
            io.quarkus.runtime.Quarkus.asyncExit(1);
        }
    }

    /** On Kubernetes: discovery and status-following on every replica, the operator on the Lease's holder. */
    private io.boundless.router.kubernetes.ModelDeploymentOperator operator(Gateway g) {
        var k = config.kubernetes();
        kubernetes = new io.fabric8.kubernetes.client.KubernetesClientBuilder().build();
        String ns = k.namespace().orElseGet(() -> kubernetes.getNamespace() == null ? "default" : kubernetes.getNamespace());
        String name = k.deployment().orElseThrow(() -> new IllegalArgumentException(
                "boundless.router.kubernetes.deployment (the ModelDeployment this router serves) is needed on Kubernetes"));
        String identity = k.identity().orElseGet(() -> System.getenv().getOrDefault("HOSTNAME", "router-" + ProcessHandle.current().pid()));
        String tlsSecret = null;
        if (io.boundless.router.endpoints.PeerChannels.tls() != null) {
            tlsSecret = k.tlsSecret().filter(t -> !t.isBlank()).orElseThrow(() -> new IllegalArgumentException(
                    "boundless.router.kubernetes.tls-secret (the inference replicas' certificate Secret) is needed on mutual TLS; "
                            + "boundless.tls.plaintext=true runs router and replicas on plaintext"));
        }
        var settings = new io.boundless.router.kubernetes.KubernetesSettings(ns, name, k.images(), k.modelStoreClaim(), k.grpcPort(), k.httpPort(),
                config.control().drainGrace(), k.keda(), k.prometheus().orElse(null), k.podLabels(), tlsSecret,
                io.boundless.router.kubernetes.KubernetesSettings.inheritedEnv(System.getenv()));
        var op = new io.boundless.router.kubernetes.ModelDeploymentOperator(kubernetes, settings, g.pool, g, config.model(),
                new io.boundless.router.kubernetes.ModelDeploymentOperator.LeaseTiming(k.lease().orElse("boundless-router-" + name), identity,
                        k.leaseDuration(), k.renewDeadline(), k.retryPeriod()), config.control().interval(), System::currentTimeMillis);
        op.onController(c -> metrics = new io.boundless.router.control.DeploymentMetrics(meters, c));
        java.util.concurrent.Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().name("deployment-metrics").daemon().factory())
                .scheduleWithFixedDelay(() -> {
                    var m = metrics;
                    if (m != null && op.leading()) {
                        m.refresh();
                    }
                }, 1, 2, java.util.concurrent.TimeUnit.SECONDS);
        op.start();
        return op;
    }

    /**
     * The deployment's controller on local inference processes: the file is read and applied (an invalid one stops the
     * router with the reason), then the loop runs every control.interval.
     */
    private io.boundless.router.control.DeploymentController deploymentController(Gateway g) throws java.io.IOException {
        var local = config.local();
        java.nio.file.Path file = config.deployment().orElseThrow();
        var d = io.boundless.router.rollout.ModelDeployments.read(file);
        java.util.List<String> command = new java.util.ArrayList<>();
        command.add(local.java().orElse(ProcessHandle.current().info().command().orElse("java")));
        command.addAll(local.javaOptions());
        command.add("-jar");
        command.add(local.inferenceJar().orElseThrow(() -> new IllegalArgumentException(
                "boundless.router.local.inference-jar (the inference service's quarkus-run.jar) is needed to run a deployment")).toString());
        var manager = new io.boundless.router.local.LocalProcesses(command,
                local.store().orElseThrow(() -> new IllegalArgumentException("boundless.router.local.store (the model store) is needed to run a deployment")),
                local.logs().orElse(java.nio.file.Path.of("logs")), config.model(), java.util.Map.of(), local.grpcPorts(), local.httpOffset());
        var c = new io.boundless.router.control.DeploymentController(config.model(), g.pool, manager, g, System::currentTimeMillis,
                config.control().drainGrace());
        try {
            c.apply(d);
        } catch (IllegalArgumentException e) {
            c.close();
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
        c.start(config.control().interval());
        var metrics = new io.boundless.router.control.DeploymentMetrics(meters, c);
        java.util.concurrent.Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().name("deployment-metrics").daemon().factory())
                .scheduleWithFixedDelay(metrics::refresh, 1, 2, java.util.concurrent.TimeUnit.SECONDS);
        return c;
    }

    /** The deployment controller (on Kubernetes: the leader's), or null when the router serves static replicas or follows. */
    public io.boundless.router.control.DeploymentController controller() {
        return operator != null ? operator.controller() : controller;
    }

    /** Whether this router runs on Kubernetes. */
    public boolean onKubernetes() {
        return operator != null;
    }

    public Gateway gateway() {
        Gateway g = gateway;
        if (g == null) {
            synchronized (this) {
                if (gateway == null) {
                    RouterMetrics m = new RouterMetrics(meters, config.ttftSlos());
                    Gateway created = new Gateway(config, m);
                    m.latencyEjections(created.pool);
                    created.start();
                    gateway = created;
                }
                g = gateway;
            }
        }
        return g;
    }

    private volatile io.boundless.router.reasoning.ReasoningService reasoning;

    /** The reasoning strategies' service (built on first use, on the Gateway). */
    public io.boundless.router.reasoning.ReasoningService reasoning() {
        var r = reasoning;
        if (r == null) {
            synchronized (this) {
                if (reasoning == null) {
                    reasoning = new io.boundless.router.reasoning.ReasoningService(gateway(), meters);
                }
                r = reasoning;
            }
        }
        return r;
    }

    void onStop(@Observes ShutdownEvent event) {
        if (gateway != null) {
            gateway.shutDown(config.shutdownGrace());  // before the replicas (which the controller may stop) go
        }
        if (operator != null) {
            operator.close();  // the workloads stay; the next leader takes them over
            kubernetes.close();
        }
        if (controller != null) {
            controller.close();  // stops the replicas it started
        }
        if (gateway != null) {
            gateway.close();
        }
    }

    /** Ready once at least one inference replica passed its health check. */
    @Readiness
    @ApplicationScoped
    static class ReplicasAdmitted implements HealthCheck {
        @Inject
        RouterLifecycle lifecycle;

        @Override
        public HealthCheckResponse call() {
            Gateway g = lifecycle.gateway();
            int admitted = g.pool.admitted().size();
            var r = HealthCheckResponse.named("inference-replicas").withData("admitted", admitted).withData("configured", g.pool.all().size())
                    .withData("stopping", g.stopping());
            return (admitted > 0 && !g.stopping() ? r.up() : r.down()).build();
        }
    }
}
