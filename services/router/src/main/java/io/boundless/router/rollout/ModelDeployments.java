package io.boundless.router.rollout;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.boundless.router.autoscale.ScalingSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads and checks {@link ModelDeployment}s and turns their parts into what the controllers take. Every problem is
 * one message naming the field by its path ({@code spec.pools[1].maxReplicas}); an unknown field is an error, not
 * silently ignored (a misspelt canary field that does nothing is how rollouts go wrong: kserve#5335).
 */
public final class ModelDeployments {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory())
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);

    static {
        // an empty list item ("- " alone, "[~]") is an error naming its place, not a null for the checks to trip on
        YAML.configOverride(List.class).setSetterInfo(com.fasterxml.jackson.annotation.JsonSetter.Value.forContentNulls(
                com.fasterxml.jackson.annotation.Nulls.FAIL));
        YAML.configOverride(java.util.Map.class).setSetterInfo(com.fasterxml.jackson.annotation.JsonSetter.Value.forContentNulls(
                com.fasterxml.jackson.annotation.Nulls.FAIL));
    }
    private static final Pattern NAME = Pattern.compile("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");
    private static final Pattern DURATION = Pattern.compile("(\\d+)(ms|s|m|h)");

    /** A resource that cannot be used, and why. */
    public static final class InvalidDeploymentException extends IllegalArgumentException {
        public InvalidDeploymentException(String message) {
            super(message);
        }
    }

    private ModelDeployments() {}

    public static ModelDeployment read(Path file) throws IOException {
        return parse(Files.readString(file), file.toString());
    }

    /** Parses and checks one resource; {@code where} names its origin in messages. */
    public static ModelDeployment parse(String yaml, String where) {
        ModelDeployment d;
        if (yaml.isBlank()) {
            throw new InvalidDeploymentException(where + ": the document is empty");
        }
        try {
            d = YAML.readValue(yaml, ModelDeployment.class);
        } catch (com.fasterxml.jackson.databind.exc.InvalidFormatException e) {
            if (e.getTargetType() == null || !e.getTargetType().isEnum()) {
                throw new InvalidDeploymentException(where + ": " + path(e) + ": " + e.getOriginalMessage().lines().findFirst().orElse(""));
            }
            List<String> values = new ArrayList<>();
            for (Object c : e.getTargetType().getEnumConstants()) {
                values.add(YAML.convertValue(c, String.class));
            }
            throw new InvalidDeploymentException(where + ": " + path(e) + " is " + String.join(", ", values) + ", not " + e.getValue());
        } catch (JsonMappingException e) {
            throw new InvalidDeploymentException(where + ": " + path(e) + ": " + e.getOriginalMessage().lines().findFirst().orElse(""));
        } catch (IOException e) {
            throw new InvalidDeploymentException(where + ": not a YAML document: " + e.getMessage().lines().findFirst().orElse(""));
        }
        if (d == null) {
            throw new InvalidDeploymentException(where + ": the document is empty");
        }
        List<String> problems = check(d);
        if (!problems.isEmpty()) {
            throw new InvalidDeploymentException(where + ": " + String.join("; ", problems));
        }
        return d;
    }

    private static String path(JsonMappingException e) {
        StringBuilder b = new StringBuilder();
        for (JsonMappingException.Reference r : e.getPath()) {
            if (r.getFieldName() != null) {
                b.append(b.isEmpty() ? "" : ".").append(r.getFieldName());
            } else if (r.getIndex() >= 0) {
                b.append('[').append(r.getIndex()).append(']');
            }
        }
        return b.isEmpty() ? "(document)" : b.toString();
    }

    /** Every problem of a resource (empty: it can be used). */
    public static List<String> check(ModelDeployment d) {
        List<String> p = new ArrayList<>();
        if (!ModelDeployment.API_VERSION.equals(d.apiVersion())) {
            p.add("apiVersion must be " + ModelDeployment.API_VERSION + ", not " + d.apiVersion());
        }
        if (!ModelDeployment.KIND.equals(d.kind())) {
            p.add("kind must be " + ModelDeployment.KIND + ", not " + d.kind());
        }
        if (d.metadata() == null || d.metadata().name() == null || !NAME.matcher(d.metadata().name()).matches()) {
            p.add("metadata.name must be a DNS label (lower-case letters, digits and '-', at most 63), not "
                    + (d.metadata() == null ? null : d.metadata().name()));
        }
        var s = d.spec();
        if (s == null) {
            p.add("spec is required");
            return p;
        }
        if (s.model() == null || s.model().isBlank()) {
            p.add("spec.model (the name clients send) is required");
        }
        names(p, "spec.versions", s.versions() == null ? null : s.versions().stream().map(ModelDeployment.Version::name).toList());
        if (s.versions() != null) {
            for (int i = 0; i < s.versions().size(); i++) {
                if (s.versions().get(i).source() == null || s.versions().get(i).source().isBlank()) {
                    p.add("spec.versions[" + i + "].source (the model-store name, e.g. llama-3.2-1b/2024-09) is required");
                }
            }
        }
        names(p, "spec.pools", s.pools() == null ? null : s.pools().stream().map(ModelDeployment.Pool::name).toList());
        if (s.pools() != null) {
            for (int i = 0; i < s.pools().size(); i++) {
                var pool = s.pools().get(i);
                String at = "spec.pools[" + i + "]";
                if (pool.accelerators() != null && (pool.accelerators() < 1 || pool.accelerators() > 16)) {
                    p.add(at + ".accelerators must be 1 to 16, not " + pool.accelerators());
                }
                if (pool.accelerators() != null && pool.acceleratorOrCpu() == ModelDeployment.Accelerator.CPU) {
                    p.add(at + ".accelerators is for a GPU pool (accelerator nvidia or amd)");
                }
                if (pool.capacity() != null && !(pool.capacity() > 0)) {
                    p.add(at + ".capacity must be above 0, not " + pool.capacity());
                }
                int min = minReplicas(pool);
                int max = maxReplicas(pool);
                if (min < 0 || max < Math.max(1, min)) {
                    p.add(at + ": minReplicas " + min + " and maxReplicas " + max + " must satisfy 0 <= min <= max, max >= 1");
                }
            }
        }
        if (s.autoscaling() != null && s.pools() != null && p.isEmpty()) {
            for (var pool : s.pools()) {
                try {
                    scalingSpec(d, pool.name());
                } catch (IllegalArgumentException e) {
                    p.add("spec.autoscaling: " + e.getMessage());
                    break;
                }
            }
        }
        if (s.rollout() != null) {
            var r = s.rollout();
            if (r.steps() != null) {
                for (int i = 0; i < r.steps().size(); i++) {
                    try {
                        step(r.steps().get(i));
                    } catch (IllegalArgumentException e) {
                        p.add("spec.rollout.steps[" + i + "]: " + e.getMessage());
                    }
                }
            }
            if (r.progressDeadlineSeconds() != null && r.progressDeadlineSeconds() < 1) {
                p.add("spec.rollout.progressDeadlineSeconds must be at least 1, not " + r.progressDeadlineSeconds());
            }
            if (r.inconclusiveLimit() != null && r.inconclusiveLimit() < 1) {
                p.add("spec.rollout.inconclusiveLimit must be at least 1, not " + r.inconclusiveLimit());
            }
            try {
                analysis(d);
            } catch (IllegalArgumentException e) {
                p.add("spec.rollout.analysis: " + e.getMessage());
            }
        }
        return p;
    }

    private static void names(List<String> p, String at, List<String> names) {
        if (names == null || names.isEmpty()) {
            p.add(at + " needs at least one entry");
            return;
        }
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < names.size(); i++) {
            String n = names.get(i);
            if (n == null || !NAME.matcher(n).matches()) {
                p.add(at + "[" + i + "].name must be a DNS label (lower-case letters, digits and '-'), not " + n);
            } else if (!seen.add(n)) {
                p.add(at + "[" + i + "].name " + n + " is used twice");
            }
        }
    }

    static int minReplicas(ModelDeployment.Pool pool) {
        return pool.minReplicas() == null ? 1 : pool.minReplicas();
    }

    static int maxReplicas(ModelDeployment.Pool pool) {
        return pool.maxReplicas() == null ? Math.max(1, minReplicas(pool)) : pool.maxReplicas();
    }

    /** One pool's replica's capacity (default 1). */
    public static double capacity(ModelDeployment d, String pool) {
        var p = pool(d, pool);
        return p.capacity() == null ? 1 : p.capacity();
    }

    private static ModelDeployment.Pool pool(ModelDeployment d, String name) {
        return d.spec().pools().stream().filter(p -> p.name().equals(name)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no pool " + name + " in " + d.metadata().name()));
    }

    /** How a pool scales; without spec.autoscaling, null: the pool keeps minReplicas. */
    public static ScalingSpec scalingSpec(ModelDeployment d, String poolName) {
        var a = d.spec().autoscaling();
        if (a == null) {
            return null;
        }
        var pool = pool(d, poolName);
        var t = a.targets() == null ? new ModelDeployment.Targets(null, null, null) : a.targets();
        return new ScalingSpec(minReplicas(pool), maxReplicas(pool), new ScalingSpec.Targets(t.utilization(), t.queueDepthPerReplica(), t.kvUsage()),
                behavior(a.behavior() == null ? null : a.behavior().scaleUp(), ScalingSpec.Behavior.DEFAULT_UP),
                behavior(a.behavior() == null ? null : a.behavior().scaleDown(), ScalingSpec.Behavior.DEFAULT_DOWN),
                a.tolerance() == null ? 0.1 : a.tolerance());
    }

    private static ScalingSpec.Behavior behavior(ModelDeployment.Behavior b, ScalingSpec.Behavior defaults) {
        if (b == null) {
            return defaults;
        }
        ScalingSpec.Select select = b.selectPolicy() == null ? ScalingSpec.Select.MAX : switch (b.selectPolicy()) {
            case Max -> ScalingSpec.Select.MAX;
            case Min -> ScalingSpec.Select.MIN;
            case Disabled -> ScalingSpec.Select.DISABLED;
        };
        List<ScalingSpec.Policy> policies = new ArrayList<>();
        if (b.policies() == null) {
            policies.addAll(defaults.policies());
        } else {
            for (var x : b.policies()) {
                if (x.type() == null) {
                    throw new IllegalArgumentException("a policy's type is Pods or Percent");
                }
                ScalingSpec.Policy.Type type = switch (x.type()) {
                    case Pods -> ScalingSpec.Policy.Type.PODS;
                    case Percent -> ScalingSpec.Policy.Type.PERCENT;
                };
                if (x.value() == null || x.periodSeconds() == null) {
                    throw new IllegalArgumentException("a policy needs value and periodSeconds");
                }
                policies.add(new ScalingSpec.Policy(type, x.value(), x.periodSeconds()));
            }
        }
        int window = b.stabilizationWindowSeconds() == null ? defaults.stabilizationWindowSeconds() : b.stabilizationWindowSeconds();
        return new ScalingSpec.Behavior(window, policies, select);
    }

    /**
     * The rollout's steps (default: 10%, a 30 s pause, analysis, 50%, analysis over 60 s each, then promotion). The pause
     * keeps a new replica's first seconds, slower while its JIT compiles, out of the first analysis: without it an equal
     * canary was rolled back in our tests (TTFT p95 102 ms against 44 ms in its first 8 s).
     */
    public static List<RolloutController.Step> steps(ModelDeployment d) {
        var r = d.spec().rollout();
        if (r == null || r.steps() == null) {
            return List.of(new RolloutController.SetWeight(10), new RolloutController.Pause(Duration.ofSeconds(30)),
                    new RolloutController.Analysis(Duration.ofSeconds(60)), new RolloutController.SetWeight(50),
                    new RolloutController.Analysis(Duration.ofSeconds(60)));
        }
        return r.steps().stream().map(ModelDeployments::step).toList();
    }

    static RolloutController.Step step(ModelDeployment.Step s) {
        int kinds = (s.setWeight() != null ? 1 : 0) + (s.pause() != null ? 1 : 0) + (s.analysis() != null ? 1 : 0);
        if (kinds != 1) {
            throw new IllegalArgumentException("a step is exactly one of setWeight, pause or analysis");
        }
        if (s.setWeight() != null) {
            return new RolloutController.SetWeight(s.setWeight());
        }
        if (s.pause() != null) {
            return new RolloutController.Pause(s.pause().duration() == null ? null : duration(s.pause().duration()));
        }
        return new RolloutController.Analysis(s.analysis().window() == null ? Duration.ofSeconds(60) : duration(s.analysis().window()));
    }

    public static Duration progressDeadline(ModelDeployment d) {
        var r = d.spec().rollout();
        return Duration.ofSeconds(r == null || r.progressDeadlineSeconds() == null ? 600 : r.progressDeadlineSeconds());
    }

    public static int inconclusiveLimit(ModelDeployment d) {
        var r = d.spec().rollout();
        return r == null || r.inconclusiveLimit() == null ? 3 : r.inconclusiveLimit();
    }

    /** The analysis' thresholds, each defaulting to {@link CanaryAnalysis.Spec#defaults()}'s. */
    public static CanaryAnalysis.Spec analysis(ModelDeployment d) {
        var def = CanaryAnalysis.Spec.defaults();
        var r = d.spec().rollout();
        var a = r == null ? null : r.analysis();
        if (a == null) {
            return def;
        }
        return new CanaryAnalysis.Spec(or(a.maxErrorRateIncrease(), def.maxErrorRateIncrease()), or(a.maxTtftRatio(), def.maxTtftRatio()),
                or(a.maxItlRatio(), def.maxItlRatio()), or(a.slackMillis(), def.slackMillis()),
                a.minRequests() == null ? def.minRequests() : a.minRequests(),
                a.minSamplesPerBucket() == null ? def.minSamplesPerBucket() : a.minSamplesPerBucket());
    }

    private static double or(Double v, double d) {
        return v == null ? d : v;
    }

    /** "500ms", "30s", "5m", "1h". */
    static Duration duration(String text) {
        Matcher m = DURATION.matcher(text.strip().toLowerCase(Locale.ROOT));
        if (!m.matches()) {
            throw new IllegalArgumentException("a duration is a number and ms, s, m or h (30s, 5m), not '" + text + "'");
        }
        long n = Long.parseLong(m.group(1));
        return switch (m.group(2)) {
            case "ms" -> Duration.ofMillis(n);
            case "s" -> Duration.ofSeconds(n);
            case "m" -> Duration.ofMinutes(n);
            default -> Duration.ofHours(n);
        };
    }

    private static final java.util.regex.Pattern DELTA = java.util.regex.Pattern.compile("([^/+]+)/([^/+]+)\\+([^/+]+)");

    /**
     * The versions served as deltas over another version's replicas: each whose source is an edit
     * ({@code <model>/<base>+<edit>}, written by the knowledge-edit service) of another listed version's source.
     * An edit whose base is not listed gets replicas of its own (they load the base and serve the delta).
     */
    public static java.util.Map<String, io.boundless.router.endpoints.ReplicaPool.DeltaVersion> deltaVersions(ModelDeployment d) {
        return deltaVersions(d.spec());
    }

    /** {@link #deltaVersions(ModelDeployment)} of a spec (a follower router reads it from the custom resource). */
    public static java.util.Map<String, io.boundless.router.endpoints.ReplicaPool.DeltaVersion> deltaVersions(ModelDeployment.Spec spec) {
        java.util.Map<String, io.boundless.router.endpoints.ReplicaPool.DeltaVersion> out = new java.util.LinkedHashMap<>();
        if (spec == null || spec.versions() == null) {
            return out;
        }
        for (var v : spec.versions()) {
            var m = v.source() == null ? null : DELTA.matcher(v.source());
            if (m == null || !m.matches()) {
                continue;
            }
            String base = m.group(1) + "/" + m.group(2);
            spec.versions().stream().filter(b -> base.equals(b.source())).findFirst()
                    .ifPresent(b -> out.put(v.name(), new io.boundless.router.endpoints.ReplicaPool.DeltaVersion(b.name(), v.source())));
        }
        return out;
    }
}
