package io.boundless.inference.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import grpc.health.v1.HealthGrpc;
import grpc.health.v1.HealthOuterClass.HealthCheckRequest;
import grpc.health.v1.HealthOuterClass.HealthCheckResponse.ServingStatus;
import io.boundless.proto.inference.v1.*;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.RestAssured;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The inference service over real gRPC on a real port, on the default random-weight model. */
@QuarkusTest
class InferenceGrpcServiceTest {

    @ConfigProperty(name = "quarkus.grpc.server.test-port")
    int port;

    private ManagedChannel channel;
    private InferenceGrpc.InferenceBlockingStub inference;

    @BeforeEach
    void connect() {
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
        inference = InferenceGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
    }

    @AfterEach
    void disconnect() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    private static GenerateRequest.Builder request(int promptLength, SamplingParameters.Builder s) {
        GenerateRequest.Builder b = GenerateRequest.newBuilder().setSampling(s);
        for (int i = 0; i < promptLength; i++) {
            b.addPromptIds((i * 37 + 11) % 500);
        }
        return b;
    }

    /** Runs a Generate call to the end: tokens per sample, finish reasons, and usage. */
    private record Result(Map<Integer, List<Integer>> tokens, Map<Integer, FinishReason> finish, Usage usage) {}

    private Result generate(GenerateRequest req) {
        Map<Integer, List<Integer>> tokens = new TreeMap<>();
        Map<Integer, FinishReason> finish = new TreeMap<>();
        Usage usage = null;
        Iterator<GenerateResponse> it = inference.generate(req);
        while (it.hasNext()) {
            GenerateResponse r = it.next();
            r.getTokensList().forEach(t -> tokens.computeIfAbsent(r.getSampleIndex(), k -> new ArrayList<>()).add(t.getTokenId()));
            if (r.getFinishReason() != FinishReason.FINISH_REASON_UNSPECIFIED) {
                finish.put(r.getSampleIndex(), r.getFinishReason());
            }
            if (r.hasUsage()) {
                usage = r.getUsage();
            }
        }
        return new Result(tokens, finish, usage);
    }

    @Test
    void streamsTokensWithUsageAndReproducesGreedyAndSeededRuns() {
        GenerateRequest greedy = request(37, SamplingParameters.newBuilder().setTemperature(0).setMaxNewTokens(12).setIgnoreEos(true)).build();
        Result a = generate(greedy);
        Result b = generate(greedy);
        assertThat(a.tokens().get(0)).hasSize(12).isEqualTo(b.tokens().get(0));
        assertThat(a.finish()).containsEntry(0, FinishReason.FINISH_REASON_LENGTH);
        assertThat(a.usage().getPromptTokens()).isEqualTo(37);
        assertThat(a.usage().getCompletionTokens()).isEqualTo(12);
        assertThat(b.usage().getCachedPromptTokens()).as("the second run hits the prefix cache").isEqualTo(32);

        GenerateRequest seeded = request(20, SamplingParameters.newBuilder().setTemperature(1.3f).setSeed(77).setMaxNewTokens(10)
                .setIgnoreEos(true).setLogprobs(3)).setN(3).build();
        Result s1 = generate(seeded);
        Result s2 = generate(seeded);
        assertThat(s1.tokens()).hasSize(3).isEqualTo(s2.tokens());
        assertThat(s1.usage().getCompletionTokens()).isEqualTo(30);
    }

    @Test
    void aResumedSampleContinuesTheSeededRunItCameFrom() {
        GenerateRequest seeded = request(20, SamplingParameters.newBuilder().setTemperature(1.3f).setSeed(91).setMaxNewTokens(10)
                .setIgnoreEos(true)).setN(3).build();
        Result whole = generate(seeded);
        for (int sample = 0; sample < 3; sample++) {
            List<Integer> full = whole.tokens().get(sample);
            GenerateRequest resume = seeded.toBuilder().setN(0).setResume(Resume.newBuilder().addAllGeneratedIds(full.subList(0, 4))
                    .setSampleIndex(sample).setSamples(3)).build();
            Result rest = generate(resume);
            assertThat(rest.tokens()).as("one sample, index 0").containsOnlyKeys(0);
            assertThat(rest.tokens().get(0)).as("sample %d after 4 tokens", sample).isEqualTo(full.subList(4, 10));
            assertThat(rest.finish()).containsEntry(0, FinishReason.FINISH_REASON_LENGTH);
            assertThat(rest.usage().getCompletionTokens()).isEqualTo(6);
        }
        assertStatus(() -> generate(seeded.toBuilder().setResume(Resume.newBuilder().addGeneratedIds(1).setSamples(3)).build()),
                Status.Code.INVALID_ARGUMENT, "n must be 0 or 1, not 3");
        assertStatus(() -> generate(seeded.toBuilder().setN(1).setResume(Resume.newBuilder().setSampleIndex(3).setSamples(3)).build()),
                Status.Code.INVALID_ARGUMENT, "index 0 to samples - 1");
    }

    @Test
    void cancellingAStreamFreesItsBlocks() {
        int total = inference.getModelInfo(GetModelInfoRequest.getDefaultInstance()).getKvBlocks();
        List<Integer> seen = new CopyOnWriteArrayList<>();
        CompletableFuture<Void> ended = new CompletableFuture<>();
        ClientResponseObserver<GenerateRequest, GenerateResponse> observer = new ClientResponseObserver<>() {
            ClientCallStreamObserver<GenerateRequest> call;

            public void beforeStart(ClientCallStreamObserver<GenerateRequest> requestStream) {
                call = requestStream;
            }

            public void onNext(GenerateResponse r) {
                r.getTokensList().forEach(t -> seen.add(t.getTokenId()));
                if (seen.size() == 3) {
                    call.cancel("enough", null);
                }
            }

            public void onError(Throwable t) {
                ended.complete(null);
            }

            public void onCompleted() {
                ended.complete(null);
            }
        };
        InferenceGrpc.newStub(channel).generate(request(100, SamplingParameters.newBuilder().setTemperature(0).setMaxNewTokens(1500).setIgnoreEos(true)).build(), observer);
        await().atMost(Duration.ofSeconds(60)).until(ended::isDone);
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            GetLoadResponse load = inference.getLoad(GetLoadRequest.getDefaultInstance());
            assertThat(load.getFreeKvBlocks()).isEqualTo(total);
            assertThat(load.getRunning()).isZero();
        });
        assertThat(seen.size()).isLessThan(100);
    }

    @Test
    void beyondTheQueueLimitIsResourceExhaustedAtOnce() {
        // the test profile allows 4 running + 4 waiting
        List<CompletableFuture<Status>> calls = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            CompletableFuture<Status> f = new CompletableFuture<>();
            calls.add(f);
            InferenceGrpc.newStub(channel).generate(request(10, SamplingParameters.newBuilder().setTemperature(0).setMaxNewTokens(200).setIgnoreEos(true)).build(),
                    new io.grpc.stub.StreamObserver<>() {
                        public void onNext(GenerateResponse r) {}

                        public void onError(Throwable t) {
                            f.complete(Status.fromThrowable(t));
                        }

                        public void onCompleted() {
                            f.complete(Status.OK);
                        }
                    });
        }
        await().atMost(Duration.ofSeconds(120)).until(() -> calls.stream().allMatch(CompletableFuture::isDone));
        long exhausted = calls.stream().map(CompletableFuture::join).filter(s -> s.getCode() == Status.Code.RESOURCE_EXHAUSTED).count();
        long ok = calls.stream().map(CompletableFuture::join).filter(Status::isOk).count();
        assertThat(exhausted).isPositive();
        assertThat(ok).isGreaterThanOrEqualTo(8);
        assertThat(calls.stream().map(CompletableFuture::join).filter(s -> s.getCode() == Status.Code.RESOURCE_EXHAUSTED).findFirst().get().getDescription())
                .contains("limit");
    }

    private static void assertStatus(Runnable call, Status.Code code, String... parts) {
        assertThatThrownBy(call::run).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).as(e.getStatus().toString()).isEqualTo(code);
            assertThat(e.getStatus().getDescription()).contains(parts);
        });
    }

    @Test
    void badInputIsInvalidArgumentNamingTheValue() {
        assertStatus(() -> generate(request(2048, SamplingParameters.newBuilder()).build()), Status.Code.INVALID_ARGUMENT, "2048", "context");
        assertStatus(() -> generate(request(3, SamplingParameters.newBuilder()).addPromptIds(512).build()), Status.Code.INVALID_ARGUMENT, "512", "vocabulary");
        assertStatus(() -> generate(request(0, SamplingParameters.newBuilder()).build()), Status.Code.INVALID_ARGUMENT, "empty");
        assertStatus(() -> generate(request(3, SamplingParameters.newBuilder().setTemperature(-1)).build()), Status.Code.INVALID_ARGUMENT, "temperature", "-1");
        assertStatus(() -> generate(request(3, SamplingParameters.newBuilder().setTopP(2)).build()), Status.Code.INVALID_ARGUMENT, "top_p");
        assertStatus(() -> generate(request(3, SamplingParameters.newBuilder().setLogprobs(50)).build()), Status.Code.INVALID_ARGUMENT, "logprobs");
        assertStatus(() -> generate(request(3, SamplingParameters.newBuilder()).setN(500).build()), Status.Code.INVALID_ARGUMENT, "n must be");
        assertStatus(() -> inference.score(ScoreRequest.newBuilder().addPromptIds(1).build()), Status.Code.INVALID_ARGUMENT, "continuation");
    }

    @Test
    void scoresContinuationsAndDescribesItself() {
        ScoreResponse s = inference.score(ScoreRequest.newBuilder().addAllPromptIds(List.of(5, 6, 7, 8)).addAllContinuationIds(List.of(9, 10, 11))
                .setTopLogprobs(2).build());
        assertThat(s.getTokensCount()).isEqualTo(3);
        assertThat(s.getTokens(0).getTopLogprobsCount()).isEqualTo(2);
        double sum = s.getTokensList().stream().mapToDouble(GeneratedToken::getLogprob).sum();
        assertThat(s.getTotalLogprob()).isCloseTo(sum, org.assertj.core.data.Offset.offset(1e-6));
        assertThat(s.getTokensList()).allSatisfy(t -> assertThat(t.getLogprob()).isNegative());

        GetModelInfoResponse info = inference.getModelInfo(GetModelInfoRequest.getDefaultInstance());
        assertThat(info.getModel()).isEqualTo("default-random");
        assertThat(info.getArchitecture()).isEqualTo("llama");
        assertThat(info.getVocabSize()).isEqualTo(512);
        assertThat(info.getEosTokenIdsList()).containsExactly(511);
        // backend auto on a machine without a GPU: the CPU, and no GPU figures in GetLoad
        assertThat(info.getBackend()).isEqualTo("cpu");
        assertThat(info.getDevice()).startsWith("CPU, ").endsWith(" threads");
        GetLoadResponse load = inference.getLoad(GetLoadRequest.getDefaultInstance());
        assertThat(load.hasGpuUtilization()).isFalse();
        assertThat(load.hasGpuMemoryTotalBytes()).isFalse();
        // the replica's own measurements, cumulative: a generated request shows in the counts and the histograms
        generate(request(300, SamplingParameters.newBuilder().setMaxNewTokens(3).setIgnoreEos(true)).build());
        var m = inference.getLoad(GetLoadRequest.getDefaultInstance()).getMeasurements();
        assertThat(m.getRequests()).isGreaterThanOrEqualTo(1).isGreaterThan(load.getMeasurements().getRequests());
        assertThat(m.getFailed()).isZero();
        assertThat(m.getLatencyBoundsMsCount()).isEqualTo(131);
        assertThat(m.getTimeToFirstTokenList()).extracting(io.boundless.proto.inference.v1.PromptLengthLatency::getBucket)
                .containsExactly("<256", "256-1023", "1024-4095", ">=4096");
        assertThat(m.getTimeToFirstToken(1).getCountsList().stream().mapToLong(Long::longValue).sum())
                .as("the 300-token prompt's first token").isGreaterThan(load.getMeasurements().getTimeToFirstTokenCount() == 0 ? 0
                        : load.getMeasurements().getTimeToFirstToken(1).getCountsList().stream().mapToLong(Long::longValue).sum());
        assertThat(m.getInterTokenCountsList().stream().mapToLong(Long::longValue).sum()).isGreaterThanOrEqualTo(2);

        assertThat(HealthGrpc.newBlockingStub(channel).check(HealthCheckRequest.newBuilder().setService("boundless.inference.v1.Inference").build())
                .getStatus()).isEqualTo(ServingStatus.SERVING);
        RestAssured.get("/q/health/ready").then().statusCode(200);
        // liveness includes the backend's health (down only after a device failure)
        assertThat(RestAssured.get("/q/health/live").then().statusCode(200).extract().asString()).contains("\"backend\"");
        generate(request(5, SamplingParameters.newBuilder().setMaxNewTokens(3)).build());
        String metrics = RestAssured.get("/q/metrics").asString();
        assertThat(metrics).contains("boundless_time_to_first_token_seconds_bucket", "boundless_inter_token_latency_seconds_bucket",
                "boundless_generated_tokens_total", "boundless_kv_cache_usage_ratio", "boundless_prefix_cache_hit_ratio",
                "boundless_requests_waiting", "boundless_engine_busy_ratio");
        assertThat(metrics).contains("boundless_gpu_utilization_ratio NaN", "boundless_gpu_memory_used_bytes NaN");
        // vLLM's names, which KEDA / HPA / llm-d recipes scrape, once the model is loaded (the sampler registers them within a second)
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(5)).untilAsserted(() ->
                assertThat(RestAssured.get("/q/metrics").asString()).contains("vllm:num_requests_waiting{model_name=\"default-random\"}",
                        "vllm:num_requests_running{model_name=\"default-random\"}", "vllm:kv_cache_usage_perc{model_name=\"default-random\"}"));
    }
}
