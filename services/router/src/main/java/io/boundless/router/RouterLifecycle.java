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

    void onStart(@Observes StartupEvent event) {
        gateway();
    }

    public Gateway gateway() {
        Gateway g = gateway;
        if (g == null) {
            synchronized (this) {
                if (gateway == null) {
                    Gateway created = new Gateway(config, new RouterMetrics(meters));
                    created.start();
                    gateway = created;
                }
                g = gateway;
            }
        }
        return g;
    }

    void onStop(@Observes ShutdownEvent event) {
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
            var r = HealthCheckResponse.named("inference-replicas").withData("admitted", admitted).withData("configured", g.pool.all().size());
            return (admitted > 0 ? r.up() : r.down()).build();
        }
    }
}
