package io.boundless.inference;

import io.boundless.engine.cuda.Nvml;
import io.boundless.engine.sched.Engine;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The engine's Prometheus metrics, the busy fraction (the share of wall time the engine spent
 * executing steps over the last five seconds, sampled every second), and on a GPU the device's
 * utilization and memory from NVML.
 */
@ApplicationScoped
public class InferenceMetrics {
    @Inject
    MeterRegistry registry;

    @Inject
    InferenceLifecycle lifecycle;

    Timer ttft;
    Timer interToken;
    Counter generated;
    Counter prompt;
    Counter cachedPrompt;
    DistributionSummary promptLength;
    Counter resumed;
    // GetLoad's measurements: cumulative since start, read by routers for canary analysis
    // (the base's requests in one, each delta version's in its own)
    private final Measured base = new Measured();
    private final java.util.Map<String, Measured> byVersion = new java.util.concurrent.ConcurrentHashMap<>();

    /** Cumulative latency histograms and request counts of one version's requests. */
    private static final class Measured {
        final io.boundless.proto.LatencyHistogram[] ttftByPrompt = {new io.boundless.proto.LatencyHistogram(),
                new io.boundless.proto.LatencyHistogram(), new io.boundless.proto.LatencyHistogram(), new io.boundless.proto.LatencyHistogram()};
        final io.boundless.proto.LatencyHistogram interTokens = new io.boundless.proto.LatencyHistogram();
        final java.util.concurrent.atomic.AtomicLong requestsEnded = new java.util.concurrent.atomic.AtomicLong();
        final java.util.concurrent.atomic.AtomicLong requestsFailed = new java.util.concurrent.atomic.AtomicLong();

        io.boundless.proto.inference.v1.Measurements proto() {
            var b = io.boundless.proto.inference.v1.Measurements.newBuilder().setRequests(requestsEnded.get()).setFailed(requestsFailed.get());
            for (double bound : io.boundless.proto.LatencyHistogram.boundsMillis()) {
                b.addLatencyBoundsMs(bound);
            }
            for (int i = 0; i < ttftByPrompt.length; i++) {
                var h = io.boundless.proto.inference.v1.PromptLengthLatency.newBuilder().setBucket(io.boundless.proto.LatencyHistogram.PROMPT_BUCKETS.get(i));
                for (long c : ttftByPrompt[i].counts()) {
                    h.addCounts(c);
                }
                b.addTimeToFirstToken(h);
            }
            for (long c : interTokens.counts()) {
                b.addInterTokenCounts(c);
            }
            return b.build();
        }
    }

    private Measured of(String version) {
        return version == null || version.isEmpty() ? base : byVersion.computeIfAbsent(version, v -> new Measured());
    }
    private volatile boolean modelServerNames;
    private ScheduledExecutorService sampler;
    private final long[] busyRing = new long[6];
    private final long[] timeRing = new long[6];
    private int ringAt;
    private volatile double busyFraction;
    private Nvml nvml;
    private String nvmlProblem;
    private Nvml.Reading lastGpu;
    private long lastGpuAt;
    private static final Logger LOG = Logger.getLogger(InferenceMetrics.class);

    void onStart(@Observes StartupEvent event) {
        ttft = Timer.builder("boundless.time.to.first.token").description("Time from request to its first token")
                .publishPercentileHistogram().minimumExpectedValue(Duration.ofMillis(1)).maximumExpectedValue(Duration.ofSeconds(60)).register(registry);
        interToken = Timer.builder("boundless.inter.token.latency").description("Time between consecutive tokens of a sample")
                .publishPercentileHistogram().minimumExpectedValue(Duration.ofMillis(1)).maximumExpectedValue(Duration.ofSeconds(10)).register(registry);
        generated = Counter.builder("boundless.generated.tokens").description("Tokens generated").register(registry);
        prompt = Counter.builder("boundless.prompt.tokens").description("Prompt tokens processed or served from cache").register(registry);
        cachedPrompt = Counter.builder("boundless.prompt.cached.tokens").description("Prompt tokens served from the prefix cache").register(registry);
        promptLength = DistributionSummary.builder("boundless.prompt.length").description("Prompt length in tokens").register(registry);
        resumed = Counter.builder("boundless.resumed.samples").description("Samples resumed here from the tokens another replica produced").register(registry);
        Gauge.builder("boundless.requests.waiting", this, m -> load(m, "waiting")).description("Sequences waiting to be scheduled").register(registry);
        Gauge.builder("boundless.requests.running", this, m -> load(m, "running")).description("Sequences being generated").register(registry);
        Gauge.builder("boundless.kv.cache.usage.ratio", this, m -> load(m, "kv")).description("Share of KV blocks in use").register(registry);
        Gauge.builder("boundless.prefix.cache.hit.ratio", this, m -> load(m, "hit")).description("Share of prompt blocks found in the prefix cache").register(registry);
        Gauge.builder("boundless.engine.busy.ratio", this, m -> m.busyFraction).description("Share of wall time spent executing steps (last 5 s)").register(registry);
        sampler = Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().name("busy-sampler").daemon().factory());
        sampler.scheduleAtFixedRate(this::sampleBusy, 1, 1, TimeUnit.SECONDS);
        Gauge.builder("boundless.gpu.utilization.ratio", this, m -> m.gpu().map(Nvml.Reading::utilization).orElse(Double.NaN))
                .description("GPU utilization from NVML (share of the last sample period with a kernel running); NaN without a GPU").register(registry);
        Gauge.builder("boundless.gpu.memory.used.bytes", this, m -> m.gpu().map(r -> (double) r.memoryUsed()).orElse(Double.NaN))
                .description("GPU memory in use, from NVML").register(registry);
        Gauge.builder("boundless.gpu.memory.total.bytes", this, m -> m.gpu().map(r -> (double) r.memoryTotal()).orElse(Double.NaN))
                .description("GPU memory in all, from NVML").register(registry);
    }

    /**
     * The latest NVML reading of the engine's GPU (at most one second old), empty on the CPU backend
     * or where NVML is missing (said once in the log).
     */
    public Optional<Nvml.Reading> gpu() {
        Engine e = lifecycle.engine();
        if (e == null || e.pciBusId().isEmpty()) {
            return Optional.empty();
        }
        synchronized (this) {
            if (nvml == null && nvmlProblem == null) {
                Nvml.Opened o = Nvml.open(e.pciBusId().get());
                nvml = o.nvml();
                nvmlProblem = o.reason();
                if (nvmlProblem != null) {
                    LOG.warnf("GPU metrics unavailable: %s", nvmlProblem);
                }
            }
            if (nvml == null) {
                return Optional.empty();
            }
            long now = System.nanoTime();
            if (lastGpu == null || now - lastGpuAt > 1_000_000_000L) {
                try {
                    lastGpu = nvml.read();
                    lastGpuAt = now;
                } catch (IllegalStateException ex) {
                    LOG.warnf("GPU metrics: %s", ex.getMessage());
                    return Optional.empty();
                }
            }
            return Optional.of(lastGpu);
        }
    }

    void onStop(@Observes ShutdownEvent event) {
        if (sampler != null) {
            sampler.shutdownNow();
        }
        synchronized (this) {
            if (nvml != null) {
                nvml.close();
                nvml = null;
            }
        }
    }

    private static double load(InferenceMetrics m, String what) {
        Engine e = m.lifecycle.engine();
        if (e == null) {
            return 0;
        }
        Engine.Load l = e.load();
        return switch (what) {
            case "waiting" -> l.waiting();
            case "running" -> l.running();
            case "kv" -> l.kvUsage();
            default -> l.prefixHitRate();
        };
    }

    /**
     * The names vLLM's server exports, labelled with model_name as vLLM labels them, so that the KEDA,
     * HPA (prometheus-adapter) and llm-d recipes written for vLLM scrape a Boundless replica unchanged.
     * Registered once the model's name is known (after it loaded).
     */
    private void registerModelServerNames() {
        String model = lifecycle.modelName();
        if (modelServerNames || model == null || lifecycle.engine() == null) {
            return;
        }
        modelServerNames = true;
        Gauge.builder("vllm:num_requests_waiting", this, m -> load(m, "waiting")).tag("model_name", model)
                .description("Requests waiting to be scheduled (vLLM's name)").register(registry);
        Gauge.builder("vllm:num_requests_running", this, m -> load(m, "running")).tag("model_name", model)
                .description("Requests being generated (vLLM's name)").register(registry);
        Gauge.builder("vllm:kv_cache_usage_perc", this, m -> load(m, "kv")).tag("model_name", model)
                .description("KV-cache usage, 1 means 100 percent (vLLM's name and scale)").register(registry);
    }

    private synchronized void sampleBusy() {
        registerModelServerNames();
        Engine e = lifecycle.engine();
        if (e == null) {
            return;
        }
        long now = System.nanoTime();
        long busy = e.load().busyNanos();
        int oldest = (ringAt + 1) % busyRing.length;
        busyRing[ringAt] = busy;
        timeRing[ringAt] = now;
        if (timeRing[oldest] != 0 && now > timeRing[oldest]) {
            busyFraction = Math.min(1.0, (double) (busy - busyRing[oldest]) / (now - timeRing[oldest]));
        }
        ringAt = oldest;
    }

    public void promptLength(int tokens) {
        promptLength.record(tokens);
    }

    /** A request's first token; version: the delta version it is served with ("" or null: the base). */
    public void firstToken(long nanos, int promptTokens, int cachedTokens, String version) {
        ttft.record(nanos, TimeUnit.NANOSECONDS);
        of(version).ttftByPrompt[io.boundless.proto.LatencyHistogram.promptBucket(promptTokens)].record(nanos / 1e6);
        prompt.increment(promptTokens);
        cachedPrompt.increment(cachedTokens);
    }

    public void interToken(long nanos, String version) {
        interToken.record(nanos, TimeUnit.NANOSECONDS);
        of(version).interTokens.record(nanos / 1e6);
    }

    /** A Generate request ended; failed: this replica ended it (not the client). */
    public void requestEnded(boolean failed, String version) {
        Measured m = of(version);
        m.requestsEnded.incrementAndGet();
        if (failed) {
            m.requestsFailed.incrementAndGet();
        }
    }

    /** The cumulative measurements GetLoad reports: the base's requests. */
    public io.boundless.proto.inference.v1.Measurements measurements() {
        return base.proto();
    }

    /** The same for each delta version's requests. */
    public java.util.Map<String, io.boundless.proto.inference.v1.Measurements> versionMeasurements() {
        java.util.Map<String, io.boundless.proto.inference.v1.Measurements> out = new java.util.TreeMap<>();
        byVersion.forEach((v, m) -> out.put(v, m.proto()));
        return out;
    }

    /** A sample was resumed here from tokens produced elsewhere. */
    public void resumed() {
        resumed.increment();
    }

    public void generatedToken() {
        generated.increment();
    }

    public double busyFraction() {
        return busyFraction;
    }
}
