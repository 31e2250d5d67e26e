package io.boundless.router.reasoning;

import io.boundless.proto.router.v1.ReasonRequest;
import io.boundless.router.Gateway;
import io.boundless.router.RouterConfig;
import io.grpc.Deadline;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * The router's reasoning entry point, whatever API a request came through: the plan checked against the limits,
 * the key's budget admitted, and a {@link Reasoner} started on the Gateway's generations.
 */
public final class ReasoningService {
    private static final Logger LOG = Logger.getLogger(ReasoningService.class);

    private final Gateway gw;
    private final Plan.Limits limits;
    private final ExemplarSets sets;
    private final KeyBudgets budgets;
    private final ReasoningMetrics metrics;

    public ReasoningService(Gateway gw, MeterRegistry registry) {
        this.gw = gw;
        RouterConfig.Reasoning c = gw.config().reasoning();
        this.limits = new Plan.Limits(c.maxSamples(), gw.config().maxSamples(), c.maxTokens(), c.maxExemplars());
        this.sets = c.exemplars().map(ExemplarSets::load).orElse(ExemplarSets.none());
        this.budgets = new KeyBudgets(c.keyTokensPerMinute(), c.keyConcurrent(), System::nanoTime);
        this.metrics = new ReasoningMetrics(registry);
        if (!sets.names().isEmpty()) {
            LOG.infof("reasoning exemplar sets: %s (from %s)", String.join(", ", sets.names()), c.exemplars().orElseThrow());
        }
    }

    /**
     * Checks the request and starts it for key (the caller's key name, already authorized); events go to sink.
     * Returns the running reasoner, to cancel when the client goes away. Bad input throws at once.
     */
    public Reasoner start(ReasonRequest req, String key, String stickinessKey, Deadline deadline, ReasoningSink sink) {
        gw.checkModel(req.getModel());
        Plan plan = Plan.of(req, limits, sets);
        budgets.admit(key, plan.worstCaseTokens());
        Deadline d = deadline == null ? Deadline.after(gw.config().requestTimeout().toMillis(), TimeUnit.MILLISECONDS) : deadline;
        String id = "reason-" + UUID.randomUUID();
        Reasoner.Observer observer = o -> {
            budgets.release(key, plan.worstCaseTokens(), o.completionTokens());
            metrics.ended(o);
        };
        try {
            return new Reasoner(plan, new GatewayGenerator(gw, req.getModel(), id, stickinessKey, d, key), sink, observer).start();
        } catch (RuntimeException e) {
            budgets.release(key, plan.worstCaseTokens(), 0);
            throw e;
        }
    }

    /** The exemplar sets' names (for error messages and docs). */
    public java.util.List<String> exemplarSets() {
        return sets.names();
    }
}
