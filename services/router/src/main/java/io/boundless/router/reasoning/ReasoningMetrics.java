package io.boundless.router.reasoning;

import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;

/**
 * Reasoning's metrics (Prometheus at the router's /q/metrics): requests by strategy and outcome, paths drawn
 * and saved by early stopping, prompt tokens served from the prefix cache, tokens generated, and a histogram of
 * the winning answer's share of the vote.
 */
public final class ReasoningMetrics implements Reasoner.Observer {
    private final MeterRegistry registry;
    private final DistributionSummary confidence;

    public ReasoningMetrics(MeterRegistry registry) {
        this.registry = registry;
        this.confidence = DistributionSummary.builder("boundless_router_reasoning_confidence")
                .description("the winning answer's share of the vote, per voted request").serviceLevelObjectives(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
                .register(registry);
    }

    @Override
    public void ended(Reasoner.Outcome o) {
        registry.counter("boundless_router_reasoning_requests_total", "strategy", o.strategy(), "outcome", o.status()).increment();
        registry.counter("boundless_router_reasoning_samples_drawn_total", "strategy", o.strategy()).increment(o.drawn());
        registry.counter("boundless_router_reasoning_samples_saved_total", "strategy", o.strategy()).increment(o.saved());
        registry.counter("boundless_router_reasoning_cached_prompt_tokens_total", "strategy", o.strategy()).increment(o.cachedPromptTokens());
        registry.counter("boundless_router_reasoning_completion_tokens_total", "strategy", o.strategy()).increment(o.completionTokens());
        if (o.voted() && o.status().equals("ok")) {
            confidence.record(o.confidence());
        }
    }
}
