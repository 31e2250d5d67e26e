package io.boundless.router;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.boundless.router.fake.FakeBackends;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;
import java.net.URI;
import java.net.URL;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Traces through the router, recorded by the OpenTelemetry SDK's in-memory exporter: a chat that arrives with a
 * client's W3C trace context continues that trace in the router's server span, its calls to the tokenizer and the
 * replica are client spans of the same trace, and the (fake, real gRPC) tokenizer and replica receive a traceparent
 * naming those client spans as their parents — so their own server spans, which Quarkus records, join it.
 */
@QuarkusTest
@TestProfile(RouterTracingTest.Traced.class)
@QuarkusTestResource(value = FakeBackends.class, restrictToAnnotatedClass = true)
class RouterTracingTest {
    public static class Traced implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("quarkus.otel.sdk.disabled", "false", "quarkus.otel.bsp.schedule.delay", "10ms", "quarkus.otel.traces.sampler", "parentbased_always_on",
                    "quarkus.otel.exporter.otlp.traces.endpoint", "http://127.0.0.1:1");
        }
    }

    @Singleton
    static class Exporter {
        @Produces
        @Singleton
        InMemorySpanExporter inMemorySpanExporter() {
            return InMemorySpanExporter.create();
        }
    }

    @Inject
    InMemorySpanExporter spans;

    @Inject
    RouterLifecycle lifecycle;

    @TestHTTPResource("/")
    URL base;

    @Test
    void aChatContinuesTheClientsTraceThroughTheTokenizerAndTheReplica() throws Exception {
        var gw = lifecycle.gateway();
        await().atMost(Duration.ofSeconds(10)).until(() -> {
            gw.pool.checkAll();
            return gw.pool.admitted().size() == FakeBackends.REPLICAS.size();
        });
        spans.reset();
        FakeBackends.TRACEPARENTS.clear();
        String traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(base + "v1/chat/completions"))
                .header("Content-Type", "application/json").header("traceparent", "00-" + traceId + "-00f067aa0ba902b7-01")
                .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"fake\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":3}"))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);

        await().atMost(Duration.ofSeconds(10)).until(() -> spans.getFinishedSpanItems().stream().filter(s -> s.getKind() == SpanKind.CLIENT).count() >= 3
                && spans.getFinishedSpanItems().stream().anyMatch(s -> s.getKind() == SpanKind.SERVER));
        List<SpanData> mine = spans.getFinishedSpanItems().stream().filter(s -> s.getTraceId().equals(traceId)).toList();
        SpanData server = mine.stream().filter(s -> s.getKind() == SpanKind.SERVER).findFirst().orElseThrow(() -> new AssertionError("no server span in " + mine));
        assertThat(server.getParentSpanId()).as("the client's span is the parent").isEqualTo("00f067aa0ba902b7");
        var clients = mine.stream().filter(s -> s.getKind() == SpanKind.CLIENT).toList();
        assertThat(clients).extracting(SpanData::getName).contains("boundless.tokenizer.v1.Tokenizer/ApplyChatTemplate",
                "boundless.inference.v1.Inference/Generate", "boundless.tokenizer.v1.Tokenizer/DecodeStream");
        assertThat(clients).allSatisfy(c -> assertThat(c.getParentSpanId()).as(c.getName()).isEqualTo(server.getSpanId()));
        // what the tokenizer and the replica received names those client spans: their server spans are their children
        for (SpanData c : clients) {
            assertThat(FakeBackends.TRACEPARENTS).as(c.getName()).anySatisfy(t -> {
                assertThat(t[0]).isEqualTo(c.getName());
                assertThat(t[1]).isEqualTo("00-" + traceId + "-" + c.getSpanId() + "-01");
            });
        }
        SpanData generate = clients.stream().filter(c -> c.getName().endsWith("/Generate")).findFirst().orElseThrow();
        assertThat(generate.getAttributes().asMap().toString()).contains("rpc.system=grpc", "rpc.grpc.status_code=0");
        // the health checks, outside any trace, carry none and make none
        assertThat(FakeBackends.TRACEPARENTS).filteredOn(t -> t[0].endsWith("/GetLoad")).allSatisfy(t -> assertThat(t[1]).isNull());
        assertThat(spans.getFinishedSpanItems()).noneMatch(s -> s.getName().endsWith("/GetLoad"));
    }
}
