package io.boundless.router.rollout;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Compares a canary version with the stable one over the same window, on the signals that matter for an LLM:
 * the error rate, time to first token at p95 per prompt-length bucket (a canary that only got short prompts must
 * not look faster than a stable that got long ones), and inter-token latency at p95. Plain code on plain inputs;
 * the rollout controller feeds it the window's figures.
 *
 * <p>Too few samples is inconclusive, never a failure and never a pass (flagger#1689: "no values found" must not
 * halt or promote): the rollout holds. A latency counts as worse only when it is over the ratio and also more than
 * the slack above the stable one, so microsecond noise on an idle model fails nothing.
 */
public final class CanaryAnalysis {

    /**
     * @param maxErrorRateIncrease the canary's error rate may exceed stable's by this much (absolute, 0.01 = 1 point)
     * @param maxTtftRatio         canary TTFT p95 / stable TTFT p95, per bucket
     * @param maxItlRatio          canary inter-token p95 / stable's
     * @param slackMillis          a latency within this many ms of stable's passes whatever the ratio
     * @param minRequests          each version needs this many requests in the window, else inconclusive
     * @param minSamplesPerBucket  a TTFT bucket is compared only with this many samples on both sides
     */
    public record Spec(double maxErrorRateIncrease, double maxTtftRatio, double maxItlRatio, double slackMillis, int minRequests, int minSamplesPerBucket) {
        public Spec {
            if (maxErrorRateIncrease < 0 || maxTtftRatio < 1 || maxItlRatio < 1 || slackMillis < 0 || minRequests < 1 || minSamplesPerBucket < 1) {
                throw new IllegalArgumentException("analysis thresholds: maxErrorRateIncrease >= 0, ratios >= 1, slackMillis >= 0, minRequests and"
                        + " minSamplesPerBucket >= 1");
            }
        }

        public static Spec defaults() {
            return new Spec(0.01, 1.25, 1.25, 20, 50, 10);
        }
    }

    /** A prompt-length bucket's TTFT p95 (ms) and how many samples it has. */
    public record Bucket(String name, double p95Millis, long samples) {}

    /** One version's figures over the analysis window. */
    public record Window(long requests, long errors, List<Bucket> ttft, double itlP95Millis, long itlSamples) {
        double errorRate() {
            return requests == 0 ? 0 : (double) errors / requests;
        }
    }

    public enum Verdict { PASS, FAIL, INCONCLUSIVE }

    /** One metric's comparison: both figures, the threshold it was held to, and its verdict. */
    public record Check(String metric, double canary, double stable, String threshold, Verdict verdict) {
        @Override
        public String toString() {
            return metric + ": canary " + num(canary) + ", stable " + num(stable) + " (" + threshold + "): " + verdict;
        }

        /** Four significant digits, without trailing zeros. */
        static String num(double v) {
            return Double.isNaN(v) ? "n/a" : new java.math.BigDecimal(String.format(Locale.ROOT, "%.4g", v)).stripTrailingZeros().toPlainString();
        }
    }

    /** The analysis: the overall verdict, why, and every check. */
    public record Result(Verdict verdict, String reason, List<Check> checks) {}

    private final Spec spec;

    public CanaryAnalysis(Spec spec) {
        this.spec = spec;
    }

    public Result analyze(Window canary, Window stable) {
        List<Check> checks = new ArrayList<>();
        if (canary.requests() < spec.minRequests() || stable.requests() < spec.minRequests()) {
            return new Result(Verdict.INCONCLUSIVE, String.format(Locale.ROOT, "too few requests to compare: canary %d, stable %d, need %d each",
                    canary.requests(), stable.requests(), spec.minRequests()), checks);
        }
        double ce = canary.errorRate();
        double se = stable.errorRate();
        checks.add(new Check("error rate", ce, se, "at most stable + " + spec.maxErrorRateIncrease(),
                ce - se > spec.maxErrorRateIncrease() ? Verdict.FAIL : Verdict.PASS));
        for (Bucket c : canary.ttft()) {
            Bucket s = stable.ttft().stream().filter(b -> b.name().equals(c.name())).findFirst().orElse(null);
            if (s == null || c.samples() < spec.minSamplesPerBucket() || s.samples() < spec.minSamplesPerBucket()) {
                continue; // not both sides measured this bucket: nothing to compare there
            }
            checks.add(latency("TTFT p95, prompts " + c.name(), c.p95Millis(), s.p95Millis(), spec.maxTtftRatio()));
        }
        if (checks.size() == 1) {
            checks.add(new Check("TTFT p95", Double.NaN, Double.NaN, "no prompt-length bucket has " + spec.minSamplesPerBucket()
                    + " samples on both sides", Verdict.INCONCLUSIVE));
        }
        if (canary.itlSamples() >= spec.minSamplesPerBucket() && stable.itlSamples() >= spec.minSamplesPerBucket()) {
            checks.add(latency("inter-token latency p95", canary.itlP95Millis(), stable.itlP95Millis(), spec.maxItlRatio()));
        } else {
            checks.add(new Check("inter-token latency p95", canary.itlP95Millis(), stable.itlP95Millis(), "needs " + spec.minSamplesPerBucket()
                    + " samples on both sides", Verdict.INCONCLUSIVE));
        }
        List<Check> failed = checks.stream().filter(k -> k.verdict() == Verdict.FAIL).toList();
        if (!failed.isEmpty()) {
            return new Result(Verdict.FAIL, "canary is worse: " + String.join("; ", failed.stream().map(Check::toString).toList()), checks);
        }
        List<Check> open = checks.stream().filter(k -> k.verdict() == Verdict.INCONCLUSIVE).toList();
        if (!open.isEmpty()) {
            return new Result(Verdict.INCONCLUSIVE, "not enough to judge: " + String.join("; ", open.stream().map(Check::toString).toList()), checks);
        }
        return new Result(Verdict.PASS, "canary is as good as stable on " + checks.size() + " checks", checks);
    }

    private Check latency(String metric, double canary, double stable, double maxRatio) {
        boolean worse = canary > stable * maxRatio && canary - stable > spec.slackMillis();
        return new Check(metric, canary, stable, String.format(Locale.ROOT, "at most %.2fx stable or %.0f ms above it", maxRatio, spec.slackMillis()),
                worse ? Verdict.FAIL : Verdict.PASS);
    }
}
