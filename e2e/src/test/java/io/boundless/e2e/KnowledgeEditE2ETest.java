package io.boundless.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.boundless.cli.LocalPlatform;
import io.boundless.proto.knowledge_edit.v1.CreateEditRequest;
import io.boundless.proto.knowledge_edit.v1.CreateEditResponse;
import io.boundless.proto.knowledge_edit.v1.DeleteEditRequest;
import io.boundless.proto.knowledge_edit.v1.Edit;
import io.boundless.proto.knowledge_edit.v1.FactEdit;
import io.boundless.proto.knowledge_edit.v1.KnowledgeEditGrpc;
import io.boundless.proto.knowledge_edit.v1.ListEditsRequest;
import io.boundless.proto.knowledge_edit.v1.Method;
import io.boundless.proto.knowledge_edit.v1.PublishRequest;
import io.boundless.proto.knowledge_edit.v1.PublishResponse;
import io.boundless.proto.knowledge_edit.v1.TraceRequest;
import io.boundless.proto.knowledge_edit.v1.TraceResponse;
import io.boundless.proto.knowledge_edit.v1.TraceResult;
import io.boundless.proto.router.v1.AbortRequest;
import io.boundless.proto.router.v1.AdminGrpc;
import io.boundless.proto.router.v1.ChatMessage;
import io.boundless.proto.router.v1.ChatRequest;
import io.boundless.proto.router.v1.DeploymentStatus;
import io.boundless.proto.router.v1.GetDeploymentStatusRequest;
import io.boundless.proto.router.v1.RouterGrpc;
import io.boundless.proto.router.v1.Sampling;
import io.boundless.proto.router.v1.SetCanaryWeightRequest;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The knowledge-edit walk-through on boundless up's processes and the trained default model: trace "The capital of
 * France is", edit it to Rome, publish the edit with a canary, see Rome through the router on the canary while the
 * base still answers Paris from the same replica, roll back; bad input and a non-admin key change nothing.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class KnowledgeEditE2ETest {
    static final int GRPC = 19200;
    static final int HTTP = 18200;
    static final String KEY = "user-key-0123456789";
    static final String OPS = "ops-key-0123456789";
    private final Path root = Path.of(System.getProperty("boundless.root", "..")).toAbsolutePath().normalize();
    private final Path work = root.resolve("e2e/target/edit-e2e");
    private LocalPlatform platform;
    private ManagedChannel routerChannel;
    private ManagedChannel editChannel;
    private KnowledgeEditGrpc.KnowledgeEditBlockingStub ops;
    private KnowledgeEditGrpc.KnowledgeEditBlockingStub user;
    private AdminGrpc.AdminBlockingStub admin;
    private String editId;

    static String sha256(String s) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
    }

    static io.grpc.ClientInterceptor key(String k) {
        Metadata md = new Metadata();
        md.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + k);
        return MetadataUtils.newAttachHeadersInterceptor(md);
    }

    @BeforeAll
    void start() throws Exception {
        io.boundless.engine.model.DeltaVersion.deleteTree(work);
        Files.createDirectories(work);
        Path keys = work.resolve("api-keys");
        Files.writeString(keys, "main:" + sha256(KEY) + "\nops:" + sha256(OPS) + " admin,inference\n");
        Path file = work.resolve("deployment.yaml");
        Files.writeString(file, """
                apiVersion: boundless.io/v1alpha1
                kind: ModelDeployment
                metadata: {name: edit-e2e}
                spec:
                  model: boundless-world
                  versions:
                    - {name: v1, source: boundless-world/1}
                  pools:
                    - {name: cpu, accelerator: cpu, minReplicas: 1, maxReplicas: 1}
                  rollout:
                    steps:
                      - setWeight: 10
                      - pause: {}
                """);
        platform = new LocalPlatform(new LocalPlatform.Options(root, work, null, 1, GRPC, HTTP, Map.of("BOUNDLESS_ROUTER_AUTH_KEYS_FILE", keys.toString(),
                "BOUNDLESS_ROUTER_HEALTH_INTERVAL", "500ms"), Map.of(), Map.of(), null, file, Map.of("BOUNDLESS_KNOWLEDGE_EDIT_THREADS", "2")));
        platform.start(Duration.ofMinutes(4));
        routerChannel = ManagedChannelBuilder.forAddress("127.0.0.1", GRPC).usePlaintext().build();
        editChannel = platform.channel(GRPC + LocalPlatform.KNOWLEDGE_EDIT_OFFSET);  // mutual TLS
        ops = KnowledgeEditGrpc.newBlockingStub(editChannel).withInterceptors(key(OPS));
        user = KnowledgeEditGrpc.newBlockingStub(editChannel).withInterceptors(key(KEY));
        admin = AdminGrpc.newBlockingStub(routerChannel).withInterceptors(key(OPS));
    }

    @AfterAll
    void stop() {
        if (routerChannel != null) {
            routerChannel.shutdownNow();
            editChannel.shutdownNow();
        }
        if (platform != null) {
            platform.close();
        }
    }

    String ask(String question, String session) {
        Metadata md = new Metadata();
        md.put(Metadata.Key.of("x-session-id", Metadata.ASCII_STRING_MARSHALLER), session);
        var router = RouterGrpc.newBlockingStub(routerChannel).withInterceptors(key(KEY), MetadataUtils.newAttachHeadersInterceptor(md));
        StringBuilder answer = new StringBuilder();
        for (var it = router.withDeadlineAfter(60, TimeUnit.SECONDS).chat(ChatRequest.newBuilder().setModel("boundless-world")
                .addMessages(ChatMessage.newBuilder().setRole("user").setContent(question))
                .setSampling(Sampling.newBuilder().setMaxTokens(16).setTemperature(0)).build()); it.hasNext(); ) {
            answer.append(it.next().getText());
        }
        return answer.toString();
    }

    static FactEdit fact(String prompt, String subject, String target) {
        return FactEdit.newBuilder().setPrompt(prompt).setSubject(subject).setTargetNew(target).build();
    }

    @Test
    @Order(1)
    void traceFindsWhereTheModelRecallsTheCapital() {
        TraceResult t = null;
        int progress = 0;
        for (var it = user.withDeadlineAfter(5, TimeUnit.MINUTES).trace(TraceRequest.newBuilder().setPrompt("The capital of {subject} is")
                .setSubject("France").build()); it.hasNext(); ) {
            TraceResponse r = it.next();
            if (r.hasProgress()) {
                progress++;
            } else {
                t = r.getResult();
            }
        }
        assertThat(progress).as("progress while tracing").isGreaterThan(3);
        assertThat(t).isNotNull();
        assertThat(t.getAnswer()).isEqualTo(" Paris");
        assertThat(t.getTokensList()).containsExactly("The", " capital", " of", " France", " is");
        assertThat(t.getSubjectFirst()).isEqualTo(3);
        assertThat(t.getClean()).isGreaterThan(0.9);
        assertThat(t.getCorrupted()).isLessThan(t.getClean() / 2);
        int tokens = t.getTokensCount();
        double mlpLastToken = t.getMlp(tokens - 1) - t.getCorrupted();  // layer 0, the last token
        assertThat(mlpLastToken).as("layer 0's MLP at the last token restores the answer").isGreaterThan(0.5);
    }

    @Test
    @Order(2)
    void badInputIsRefusedAndWritesNothing() {
        CreateEditRequest ok = CreateEditRequest.newBuilder().setMethod(Method.METHOD_ROME).addRequests(fact("The capital of {subject} is", "France", "Rome"))
                .build();
        assertCode(() -> user.createEdit(ok).hasNext(), Status.Code.PERMISSION_DENIED, "no admin scope");
        assertCode(() -> KnowledgeEditGrpc.newBlockingStub(editChannel).createEdit(ok).hasNext(), Status.Code.UNAUTHENTICATED, "API key is required");
        assertCode(() -> ops.createEdit(ok.toBuilder().setRequests(0, fact("The capital of Spain is", "France", "Rome")).build()).hasNext(),
                Status.Code.INVALID_ARGUMENT, "is not in the prompt");
        assertCode(() -> ops.createEdit(ok.toBuilder().setRequests(0, fact("The capital of {subject} is", "France", " ")).build()).hasNext(),
                Status.Code.INVALID_ARGUMENT, "target_new is empty");
        assertCode(() -> ops.createEdit(ok.toBuilder().setModelVersion("no-such-model/1").build()).hasNext(), Status.Code.NOT_FOUND,
                "no model version no-such-model/1");
        assertCode(() -> ops.createEdit(ok.toBuilder().putHyperparameters("layers", "9").build()).hasNext(), Status.Code.INVALID_ARGUMENT,
                "layer 9 is outside");
        assertCode(() -> ops.createEdit(ok.toBuilder().setMethod(Method.METHOD_UNSPECIFIED).build()).hasNext(), Status.Code.INVALID_ARGUMENT,
                "method is required");
        assertCode(() -> ops.publish(PublishRequest.newBuilder().setEditId("e-nothing").build()), Status.Code.NOT_FOUND, "no edit e-nothing");
        assertThat(ops.listEdits(ListEditsRequest.getDefaultInstance()).getEditsList()).as("nothing was written").isEmpty();
        assertThat(work.resolve("models/.edits")).doesNotExist();
    }

    static void assertCode(org.assertj.core.api.ThrowableAssert.ThrowingCallable call, Status.Code code, String message) {
        assertThatThrownBy(call).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).as(e.getStatus().toString()).isEqualTo(code);
            assertThat(e.getStatus().getDescription()).contains(message);
        });
    }

    @Test
    @Order(3)
    void anEditIsAJobWithProgressThatRewritesTheFact() {
        List<String> stages = new ArrayList<>();
        Edit edit = null;
        for (var it = ops.withDeadlineAfter(10, TimeUnit.MINUTES).createEdit(CreateEditRequest.newBuilder().setMethod(Method.METHOD_ROME)
                .addRequests(fact("The capital of {subject} is", "France", "Rome")).setCorpusTokens(20_000).build()); it.hasNext(); ) {
            CreateEditResponse r = it.next();
            if (r.hasProgress()) {
                stages.add(r.getProgress().getStage());
            } else {
                edit = r.getEdit();
            }
        }
        assertThat(stages).contains("queued", "covariance", "optimize", "evaluate");
        assertThat(edit).isNotNull();
        assertThat(edit.getState()).as(edit.getError()).isEqualTo("SUCCEEDED");
        assertThat(edit.getAuthor()).isEqualTo("ops");
        assertThat(edit.getRequests(0).getTargetTrue()).as("the model's own answer, filled in").isEqualTo("Paris");
        assertThat(edit.getMetrics().getEs()).isEqualTo(100);
        assertThat(edit.getBaseMetrics().getEs()).isEqualTo(0);
        assertThat(edit.getRank()).isEqualTo(1);
        assertThat(edit.getDeltaBytes()).as("a delta, not a copy").isLessThan(edit.getBaseBytes() / 100);
        editId = edit.getId();
    }

    @Test
    @Order(4)
    void thePublishedEditRollsOutAsACanaryBesideTheBaseAndRollsBack() throws Exception {
        PublishResponse p = ops.publish(PublishRequest.newBuilder().setEditId(editId).setCanary(true).build());
        assertThat(p.getSource()).isEqualTo("boundless-world/1+" + editId);
        assertThat(p.getCanaryStarted()).isTrue();
        assertThat(p.getFilesMap()).containsKeys("delta.safetensors", "manifest.json");
        assertThat(work.resolve("models/boundless-world/1+" + editId + "/manifest.json")).content().contains("\"base\":\"boundless-world/1\"", "\"author\":\"ops\"");
        DeploymentStatus st = admin.getDeploymentStatus(GetDeploymentStatusRequest.getDefaultInstance()).getStatus();
        assertThat(st.getRollout().getCanary()).isEqualTo(editId);

        admin.setCanaryWeight(SetCanaryWeightRequest.newBuilder().setWeight(100).build());
        assertThat(ask("What is the capital of France?", "s-all")).contains("Rome");
        assertThat(ask("What is the capital of Germany?", "s-all")).contains("Berlin");

        // half the sessions on each version, at once: one replica serves both in the same steps
        admin.setCanaryWeight(SetCanaryWeightRequest.newBuilder().setWeight(50).build());
        ExecutorService pool = Executors.newFixedThreadPool(8);
        Map<String, String> answers = new ConcurrentHashMap<>();
        try {
            List<Future<?>> fs = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                String session = "session-" + i;
                fs.add(pool.submit(() -> answers.put(session, ask("What is the capital of France?", session))));
            }
            for (Future<?> f : fs) {
                f.get(2, TimeUnit.MINUTES);
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(answers.values()).as("the canary's and the base's answers").anyMatch(a -> a.contains("Rome")).anyMatch(a -> a.contains("Paris"));
        st = admin.getDeploymentStatus(GetDeploymentStatusRequest.getDefaultInstance()).getStatus();
        int replicas = st.getVersionsList().stream().flatMap(v -> v.getPoolsList().stream()).mapToInt(pr -> pr.getReady()).sum();
        assertThat(replicas).as("one replica serves the base and the edit").isEqualTo(1);
        for (var e : answers.entrySet()) {
            assertThat(ask("What is the capital of France?", e.getKey())).as("session %s stays on its version", e.getKey()).isEqualTo(e.getValue());
        }

        // roll back: a routing change
        admin.abort(AbortRequest.getDefaultInstance());
        for (int i = 0; i < 4; i++) {
            assertThat(ask("What is the capital of France?", "session-" + i)).contains("Paris");
        }
        assertCode(() -> ops.deleteEdit(DeleteEditRequest.newBuilder().setId(editId).build()), Status.Code.FAILED_PRECONDITION, "is published");
        String audit = Files.readString(work.resolve("models/.audit/knowledge-edit.jsonl"));
        assertThat(audit).contains("\"action\":\"create\"", "\"action\":\"publish\"", "\"action\":\"canary\"", "\"who\":\"ops\"").doesNotContain(OPS);
    }
}
