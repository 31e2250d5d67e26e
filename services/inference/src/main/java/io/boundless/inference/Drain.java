package io.boundless.inference;

import io.boundless.engine.sched.Engine;
import io.vertx.core.Vertx;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.security.MessageDigest;
import java.nio.charset.StandardCharsets;
import org.jboss.logging.Logger;

/**
 * {@code GET /drain} on the HTTP port: the replica stops taking requests (readiness and gRPC health down, new ones
 * refused with UNAVAILABLE) and the answer comes once the running and waiting requests have finished, or after
 * {@code boundless.inference.drain-timeout}. On Kubernetes it is the Pod's preStop hook: SIGTERM, which stops the
 * service at once (Quarkus does not wait for running gRPC streams), comes only after it answered, so a scale-down
 * does not cut streams. It needs the token of {@code boundless.inference.drain-token}; without one configured it is off.
 */
@ApplicationScoped
public class Drain {
    private static final Logger LOG = Logger.getLogger(Drain.class);
    static final String HEADER = "X-Boundless-Drain-Token";

    @Inject
    InferenceLifecycle lifecycle;

    @Inject
    InferenceConfig config;

    @Inject
    Vertx vertx;

    void routes(@Observes Router router) {
        router.get("/drain").handler(this::drain);
    }

    private void drain(RoutingContext ctx) {
        String token = config.drainToken().orElse("");
        String given = ctx.request().getHeader(HEADER);
        if (token.isEmpty()) {
            ctx.response().setStatusCode(404).end();
            return;
        }
        if (given == null || !MessageDigest.isEqual(token.getBytes(StandardCharsets.UTF_8), given.getBytes(StandardCharsets.UTF_8))) {
            ctx.response().setStatusCode(403).putHeader("content-type", "application/json").end("{\"error\":\"a drain needs the replica's drain token\"}");
            return;
        }
        lifecycle.drain();
        long start = System.nanoTime();
        long deadline = start + config.drainTimeout().toNanos();
        vertx.setPeriodic(1, 100, id -> {
            Engine e = lifecycle.engine();
            Engine.Load l = e == null ? null : e.load();
            int left = l == null ? 0 : l.running() + l.waiting();
            boolean late = System.nanoTime() > deadline;
            if (left > 0 && !late) {
                return;
            }
            vertx.cancelTimer(id);
            long ms = (System.nanoTime() - start) / 1_000_000;
            if (late && left > 0) {
                LOG.warnf("drain: %d requests still running after %d ms; stopping anyway (their streams resume on another replica)", left, ms);
            } else {
                LOG.infof("drained in %d ms", ms);
            }
            ctx.response().putHeader("content-type", "application/json")
                    .end("{\"drained\":" + (left == 0) + ",\"waited_ms\":" + ms + ",\"remaining\":" + left + "}");
        });
    }
}
