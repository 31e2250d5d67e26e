package io.boundless.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import com.marcnuri.helm.Helm;
import io.boundless.cli.LocalPlatform;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The platform as an SRE's monitoring sees it. Metrics: the chart's alert rules, rendered by Helm, checked and
 * unit-tested by promtool, and a real Prometheus (Debian's package; .ci/run installs it) scraping the running
 * platform's processes with those rules loaded, each rule evaluated on the real metrics without an error. Traces:
 * every process exports its spans (OTLP over HTTP) to a collector in this test, and one request's spans across the
 * router, the tokenizer and the replica form one trace, each hop's server span the child of its caller's client
 * span; the router's access log line names the trace.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ObservabilityE2ETest {
    static final int GRPC = 19560;
    static final int HTTP = 18560;
    static final int PROMETHEUS = 19595;
    static final int COLLECTOR = 19596;
    private final Path root = Path.of("..").toAbsolutePath().normalize();
    private final Path work = root.resolve("e2e/target/monitoring-e2e");
    private final HttpClient http = HttpClient.newHttpClient();
    private final ObjectMapper json = new ObjectMapper();
    private Path rules;
    private LocalPlatform platform;
    private com.sun.net.httpserver.HttpServer collector;
    /** The spans the processes exported, as OTLP sent them. */
    private final java.util.concurrent.ConcurrentLinkedQueue<io.opentelemetry.proto.trace.v1.ResourceSpans> exported = new java.util.concurrent.ConcurrentLinkedQueue<>();

    private static void assumePrometheus() {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/promtool")) && Files.isExecutable(Path.of("/usr/bin/prometheus")),
                "Prometheus is not installed (apt-get install prometheus; .ci/run does)");
    }

    @BeforeAll
    void start() throws Exception {
        Files.createDirectories(work);
        // an OTLP/HTTP collector: POST /v1/traces with an ExportTraceServiceRequest
        collector = com.sun.net.httpserver.HttpServer.create(new java.net.InetSocketAddress("127.0.0.1", COLLECTOR), 16);
        collector.createContext("/", x -> {
            try (x) {
                var req = io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest.parseFrom(x.getRequestBody().readAllBytes());
                exported.addAll(req.getResourceSpansList());
                byte[] ok = io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse.getDefaultInstance().toByteArray();
                x.getResponseHeaders().add("Content-Type", "application/x-protobuf");
                x.sendResponseHeaders(200, ok.length);
                x.getResponseBody().write(ok);
            }
        });
        collector.start();
        platform = new LocalPlatform(new LocalPlatform.Options(root, work.resolve("platform"), null, 2, GRPC, HTTP,
                Map.of("BOUNDLESS_ROUTER_ACCESS_LOG", "true"), Map.of(), Map.of()));
        platform.environment(Map.of("QUARKUS_OTEL_SDK_DISABLED", "false", "QUARKUS_OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf",
                "QUARKUS_OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:" + COLLECTOR, "QUARKUS_OTEL_BSP_SCHEDULE_DELAY", "100ms"));
        platform.start(Duration.ofMinutes(4));
    }

    @AfterAll
    void stop() {
        if (platform != null) {
            platform.close();
        }
        if (collector != null) {
            collector.stop(0);
        }
    }

    private void renderRules() throws IOException {
        if (rules != null) {
            return;
        }
        String yaml = new Helm(root.resolve("helm/boundless")).template().withName("boundless").withNamespace("boundless").withKubeVersion("1.31.0")
                .withValuesFile(root.resolve("helm/examples/all-options.yaml")).call();
        YAMLMapper y = new YAMLMapper();
        JsonNode rule = null;
        for (String doc : yaml.split("(?m)^---\\s*$")) {
            if (doc.contains("kind: PrometheusRule")) {
                rule = y.readTree(doc);
            }
        }
        assertThat(rule).as("the chart renders a PrometheusRule with metrics.prometheusRule.enabled").isNotNull();
        ObjectNode file = y.createObjectNode();
        file.set("groups", rule.at("/spec/groups"));
        rules = work.resolve("rules.yml");
        Files.writeString(rules, y.writeValueAsString(file));
    }

    private static String run(Path dir, String... command) throws Exception {
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(String.join(" ", command) + ":\n" + out).isZero();
        return out;
    }

    @Test
    void theChartsAlertRulesPassPromtoolAndFireOnTheirConditionsOnly() throws Exception {
        assumePrometheus();
        renderRules();
        assertThat(run(work, "promtool", "check", "rules", rules.toString())).contains("SUCCESS: 3 rules found");
        // the SLO of all-options.yaml: 1 s at 99.5%, so the burn-rate threshold is 14.4 x 0.005 of requests slower
        Files.writeString(work.resolve("rules-test.yml"), """
                rule_files: [rules.yml]
                evaluation_interval: 1m
                tests:
                  - interval: 1m
                    input_series:
                      - series: 'boundless_rollout_phase{model="chat", phase="Degraded"}'
                        values: '0 0 1 1 1'
                    alert_rule_test:
                      - {eval_time: 2m, alertname: BoundlessRolloutDegraded, exp_alerts: []}
                      - eval_time: 4m
                        alertname: BoundlessRolloutDegraded
                        exp_alerts:
                          - exp_labels: {severity: warning, model: chat}
                            exp_annotations:
                              summary: "the rollout of chat is Degraded (rolled back, aborted or past its progress deadline): kubectl describe modeldeployment"
                  # every request slower than the SLO for 90 minutes (the router's bucket at exactly 1 s, le="1.0")
                  - interval: 1m
                    input_series:
                      - series: 'boundless_router_time_to_first_token_seconds_bucket{le="1.0"}'
                        values: '0+0x90'
                      - series: 'boundless_router_time_to_first_token_seconds_count'
                        values: '0+10x90'
                    alert_rule_test:
                      - eval_time: 90m
                        alertname: BoundlessTtftSloBurn
                        exp_alerts:
                          - exp_labels: {severity: page}
                            exp_annotations:
                              summary: "Time to first token misses its 1 s SLO fast enough to spend the month's error budget in two days"
                  # 5% slower than the SLO: over budget, but not at 14.4 times its rate
                  - interval: 1m
                    input_series:
                      - series: 'boundless_router_time_to_first_token_seconds_bucket{le="1.0"}'
                        values: '0+95x90'
                      - series: 'boundless_router_time_to_first_token_seconds_count'
                        values: '0+100x90'
                    alert_rule_test:
                      - {eval_time: 90m, alertname: BoundlessTtftSloBurn, exp_alerts: []}
                  - interval: 1m
                    input_series:
                      - series: 'kube_pod_container_status_restarts_total{namespace="boundless", container="inference", pod="chat-v1-h100-abc"}'
                        values: '0 1 2 3 4 5 6'
                    alert_rule_test:
                      - eval_time: 6m
                        alertname: BoundlessInferenceCrashLooping
                        exp_alerts:
                          - exp_labels: {severity: warning, namespace: boundless, container: inference, pod: chat-v1-h100-abc}
                            exp_annotations:
                              summary: "inference Pod chat-v1-h100-abc restarted more than 3 times in 15 minutes (kubectl describe modeldeployment: ScalingLimited says why)"
                """);
        assertThat(run(work, "promtool", "test", "rules", "rules-test.yml")).contains("SUCCESS");
    }

    private JsonNode query(String promql) throws Exception {
        var r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + PROMETHEUS + "/api/v1/query?query="
                + URLEncoder.encode(promql, StandardCharsets.UTF_8))).timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return json.readTree(r.body()).at("/data/result");
    }

    private static double value(JsonNode result) {
        return result.isEmpty() ? Double.NaN : Double.parseDouble(result.get(0).at("/value/1").asText());
    }

    @Test
    void aRealPrometheusScrapesEveryProcessAndEvaluatesTheChartsRulesOnTheirMetrics() throws Exception {
        assumePrometheus();
        renderRules();
        Path promData = work.resolve("prometheus-data");
        Files.createDirectories(promData);
        // the processes' HTTP ports: router, tokenizer, then the replicas (LocalPlatform's layout)
        Files.writeString(work.resolve("prometheus.yml"), """
                global: {scrape_interval: 1s, evaluation_interval: 1s}
                rule_files: [%s]
                scrape_configs:
                  - job_name: boundless
                    metrics_path: /q/metrics
                    static_configs:
                      - targets: ['127.0.0.1:%d', '127.0.0.1:%d', '127.0.0.1:%d', '127.0.0.1:%d']
                """.formatted(rules, HTTP, HTTP + 1, HTTP + 2, HTTP + 3));
        run(work, "promtool", "check", "config", work.resolve("prometheus.yml").toString());
        {
            Process prometheus = new ProcessBuilder("prometheus", "--config.file=" + work.resolve("prometheus.yml"), "--storage.tsdb.path=" + promData,
                    "--web.listen-address=127.0.0.1:" + PROMETHEUS).redirectErrorStream(true).redirectOutput(work.resolve("prometheus.log").toFile()).start();
            try {
                int sent = 20;
                for (int i = 0; i < sent; i++) {
                    var r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + HTTP + "/v1/completions")).timeout(Duration.ofSeconds(30))
                            .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
                                    "{\"model\":\"default-random\",\"prompt\":\"request " + i + "\",\"max_tokens\":8}")).build(), HttpResponse.BodyHandlers.ofString());
                    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
                }
                // every process is scraped and up
                await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(500)).ignoreExceptions().until(() -> {
                    JsonNode up = query("up");
                    List<Double> v = new ArrayList<>();
                    up.forEach(x -> v.add(x.at("/value/1").asDouble()));
                    return v.size() == 4 && v.stream().allMatch(d -> d == 1);
                });
                // the router's counters and the TTFT histogram, with its bucket at the SLO the alert selects
                await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(500)).ignoreExceptions()
                        .until(() -> value(query("sum(boundless_router_requests_total{outcome=\"ok\"})")) >= sent);
                double count = value(query("sum(boundless_router_time_to_first_token_seconds_count)"));
                assertThat(count).isGreaterThanOrEqualTo(sent);
                // the bucket the SLO alert selects is a real series (a first request on cold JVMs may take longer than 1 s)
                assertThat(value(query("sum(boundless_router_time_to_first_token_seconds_bucket{le=\"1.0\"})"))).as("requests within 1 s")
                        .isPositive().isLessThanOrEqualTo(count);
                assertThat(value(query("histogram_quantile(0.95, sum by (le) (boundless_router_time_to_first_token_seconds_bucket))")))
                        .as("TTFT p95 from the histogram (s)").isBetween(0.0, 1.0);
                assertThat(query("boundless_engine_busy_ratio").size()).as("both replicas' engine metrics").isEqualTo(2);
                // the chart's rules, evaluated on these metrics: each healthy (no error), none firing on a healthy platform
                await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(500)).ignoreExceptions().until(() -> {
                    JsonNode groups = json.readTree(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + PROMETHEUS + "/api/v1/rules")).build(),
                            HttpResponse.BodyHandlers.ofString()).body()).at("/data/groups");
                    List<String> health = new ArrayList<>();
                    groups.forEach(g -> g.get("rules").forEach(r -> health.add(r.get("name").asText() + "=" + r.get("health").asText()
                            + (r.path("lastError").asText().isEmpty() ? "" : " " + r.path("lastError").asText()))));
                    assertThat(health).containsExactlyInAnyOrder("BoundlessTtftSloBurn=ok", "BoundlessInferenceCrashLooping=ok", "BoundlessRolloutDegraded=ok");
                    return true;
                });
                JsonNode alerts = json.readTree(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + PROMETHEUS + "/api/v1/alerts")).build(),
                        HttpResponse.BodyHandlers.ofString()).body()).at("/data/alerts");
                assertThat(alerts).as("no alert on a healthy platform").isEmpty();
            } finally {
                prometheus.destroy();
                prometheus.waitFor(20, TimeUnit.SECONDS);
            }
        }
    }

    /** Every span exported so far, with the service that exported it. */
    private List<Map.Entry<String, io.opentelemetry.proto.trace.v1.Span>> spans() {
        List<Map.Entry<String, io.opentelemetry.proto.trace.v1.Span>> out = new ArrayList<>();
        for (var rs : exported) {
            String service = rs.getResource().getAttributesList().stream().filter(a -> a.getKey().equals("service.name")).map(a -> a.getValue().getStringValue())
                    .findFirst().orElse("?");
            rs.getScopeSpansList().forEach(ss -> ss.getSpansList().forEach(sp -> out.add(Map.entry(service, sp))));
        }
        return out;
    }

    private static String hex(com.google.protobuf.ByteString b) {
        return java.util.HexFormat.of().formatHex(b.toByteArray());
    }

    @Test
    void oneRequestIsOneTraceAcrossTheRouterTheTokenizerAndTheReplica() throws Exception {
        String traceId = "0af7651916cd43dd8448eb211c80319c";
        var r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + HTTP + "/v1/chat/completions")).timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/json").header("traceparent", "00-" + traceId + "-b7ad6b7169203331-01")
                .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"default-random\",\"messages\":[{\"role\":\"user\",\"content\":\"trace me\"}],"
                        + "\"max_tokens\":4}")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        // the router's spans, the tokenizer's (chat template, detokenizing) and the replica's (generation), one trace
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200)).until(() -> {
            var names = spans().stream().filter(e -> hex(e.getValue().getTraceId()).equals(traceId)).map(e -> e.getKey() + " " + e.getValue().getName()).toList();
            return names.contains("boundless-tokenizer boundless.tokenizer.v1.Tokenizer/ApplyChatTemplate")
                    && names.contains("boundless-inference boundless.inference.v1.Inference/Generate")
                    && names.contains("boundless-tokenizer boundless.tokenizer.v1.Tokenizer/DecodeStream")
                    && names.stream().filter(n -> n.startsWith("boundless-router ")).count() >= 4;
        });
        var trace = spans().stream().filter(e -> hex(e.getValue().getTraceId()).equals(traceId)).toList();
        var router = trace.stream().filter(e -> e.getKey().equals("boundless-router")).map(Map.Entry::getValue).toList();
        var server = router.stream().filter(s -> s.getKind() == io.opentelemetry.proto.trace.v1.Span.SpanKind.SPAN_KIND_SERVER).findFirst().orElseThrow();
        assertThat(hex(server.getParentSpanId())).as("the caller's span is the router's parent").isEqualTo("b7ad6b7169203331");
        for (var hop : trace) {
            if (hop.getKey().equals("boundless-router")) {
                continue;
            }
            // each downstream server span is the child of one of the router's client spans of the same method
            var s = hop.getValue();
            assertThat(s.getKind()).isEqualTo(io.opentelemetry.proto.trace.v1.Span.SpanKind.SPAN_KIND_SERVER);
            var parent = router.stream().filter(c -> c.getSpanId().equals(s.getParentSpanId())).findFirst()
                    .orElseThrow(() -> new AssertionError(hop.getKey() + " " + s.getName() + ": its parent is none of the router's spans"));
            assertThat(parent.getKind()).isEqualTo(io.opentelemetry.proto.trace.v1.Span.SpanKind.SPAN_KIND_CLIENT);
            assertThat(parent.getName()).isEqualTo(s.getName());
            assertThat(hex(parent.getParentSpanId())).as("the router's client spans are children of its server span").isEqualTo(hex(server.getSpanId()));
        }
        // the router's access log names the trace
        await().atMost(Duration.ofSeconds(10)).until(() -> Files.readString(work.resolve("platform/logs/router.log")).contains("(trace " + traceId + "): ok"));
    }
}
