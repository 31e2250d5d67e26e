package io.boundless.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.boundless.cli.LocalPlatform;
import io.boundless.proto.router.v1.ChatMessage;
import io.boundless.proto.router.v1.ChatRequest;
import io.boundless.proto.router.v1.GenerateRequest;
import io.boundless.proto.router.v1.RouterGrpc;
import io.boundless.proto.router.v1.Sampling;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * A newcomer with a model of their own, through the {@code boundless} command itself (a real
 * process, as bin/boundless runs it): a base model without a chat template is served and completes,
 * and chat says what is missing; {@code --chat-template} makes it chat; a missing path, an
 * unsupported architecture and a service that stops at start are each one clear line; and every
 * client command says plainly that no platform is running. And a newcomer without a model of their own
 * gets the trained default model, which answers its world's facts through the running platform.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class OwnModelE2ETest {
    private static final String TEMPLATE = "{% for m in messages %}<|begin|>{{ m['role'] }}\n{{ m['content'] }}<|end|>\n{% endfor %}"
            + "{% if add_generation_prompt %}<|begin|>assistant\n{% endif %}";

    private final Path root = Path.of(System.getProperty("boundless.root", "..")).toAbsolutePath().normalize();
    private final Path work = root.resolve("e2e/target/own-model");
    private final Path home = work.resolve("home");
    private final ObjectMapper json = new ObjectMapper();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final List<Cli> started = new ArrayList<>();
    private Path base;

    /** A base model: the default model's weights and tokenizer, with no chat template, outside the model store. */
    @BeforeAll
    void writeModels() throws Exception {
        Files.createDirectories(work);
        Path store = work.resolve("written");
        LocalPlatform.writeStoreModel(root, store, work.resolve("write-model.log"));
        base = work.resolve("my-base-model");
        if (!Files.exists(base)) {
            Files.createDirectories(base);
            try (var files = Files.list(store.resolve("default-random/1"))) {
                for (Path f : files.toList()) {
                    Files.copy(f, base.resolve(f.getFileName()));
                }
            }
            ObjectNode config = (ObjectNode) json.readTree(base.resolve("tokenizer_config.json").toFile());
            config.remove("chat_template");
            json.writeValue(base.resolve("tokenizer_config.json").toFile(), config);
        }
        assertThat(Files.readString(base.resolve("tokenizer_config.json"))).doesNotContain("chat_template");
    }

    @AfterEach
    void stopPlatforms() {
        started.forEach(Cli::stop);
        started.clear();
    }

    @Test
    void aBaseModelIsServedForCompletionsAndChatSaysWhatIsMissing() throws Exception {
        int grpc = 19600;
        int port = 18600;
        Cli up = up(List.of("--model", base.toString(), "--replicas", "1", "--grpc-port", "" + grpc, "--http-port", "" + port), Map.of());
        up.awaitLine("Try: ");
        String out = up.output();
        assertThat(out).contains("serving model 'my-base-model':\n  it has no chat template (a base model)");
        // the start-up demo is a plain completion, which answers
        assertThat(out).contains("boundless generate \"The capital of France is\"\n> ").containsPattern("\\[6 prompt tokens \\(0 cached\\), 24 generated]");
        assertThat(out).doesNotContain("Exception", "\tat ");

        // completions over HTTP and Generate over gRPC
        HttpResponse<String> completion = post(port, "/v1/completions", "{\"model\": \"my-base-model\", \"prompt\": \"Once upon a time\", \"max_tokens\": 5}");
        assertThat(completion.statusCode()).as(completion.body()).isEqualTo(200);
        assertThat(json.readTree(completion.body()).at("/usage/completion_tokens").asInt()).isEqualTo(5);
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", grpc).usePlaintext().build();
        try {
            var router = RouterGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
            int tokens = 0;
            for (var it = router.generate(GenerateRequest.newBuilder().setModel("my-base-model").setText("Once upon a time")
                    .setSampling(Sampling.newBuilder().setMaxTokens(4)).build()); it.hasNext(); ) {
                tokens += it.next().getTokensCount();
            }
            assertThat(tokens).isEqualTo(4);

            // chat: a 400 / INVALID_ARGUMENT that names the missing template and how to give one
            HttpResponse<String> chat = post(port, "/v1/chat/completions",
                    "{\"model\": \"my-base-model\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 4}");
            assertThat(chat.statusCode()).as(chat.body()).isEqualTo(400);
            JsonNode error = json.readTree(chat.body()).path("error");
            assertThat(error.path("type").asText()).isEqualTo("invalid_request_error");
            assertThat(error.path("message").asText()).startsWith("model 'my-base-model' has no chat template: it is a base model")
                    .contains("/v1/completions", "chat_template in the request", "chat_template.jinja", "boundless up --chat-template FILE");
            ChatRequest hi = ChatRequest.newBuilder().setModel("my-base-model").addMessages(ChatMessage.newBuilder().setRole("user").setContent("hi"))
                    .setSampling(Sampling.newBuilder().setMaxTokens(4)).build();
            assertThatThrownBy(() -> router.chat(hi).hasNext()).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                assertThat(e.getStatus().getDescription()).isEqualTo(error.path("message").asText());
            });
            Cli chatCommand = client(List.of("chat", "hi"), Map.of("BOUNDLESS_ROUTER", "127.0.0.1:" + grpc));
            assertThat(chatCommand.exitCode()).isEqualTo(1);
            assertThat(chatCommand.output()).contains("boundless chat: INVALID_ARGUMENT: model 'my-base-model' has no chat template");

            // a template in the request makes it chat (gRPC and HTTP); a broken one is the template's own error
            int chatTokens = 0;
            for (var it = router.chat(ChatRequest.newBuilder(hi).setChatTemplate(TEMPLATE).build()); it.hasNext(); ) {
                chatTokens += it.next().getTokensCount();
            }
            assertThat(chatTokens).isEqualTo(4);
            ObjectNode body = (ObjectNode) json.readTree("{\"model\": \"my-base-model\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}],"
                    + " \"max_tokens\": 3}");
            body.put("chat_template", TEMPLATE);
            HttpResponse<String> templated = post(port, "/v1/chat/completions", body.toString());
            assertThat(templated.statusCode()).as(templated.body()).isEqualTo(200);
            assertThat(json.readTree(templated.body()).at("/choices/0/message/role").asText()).isEqualTo("assistant");
            body.put("chat_template", "{% if %}");
            HttpResponse<String> broken = post(port, "/v1/chat/completions", body.toString());
            assertThat(broken.statusCode()).isEqualTo(400);
            assertThat(json.readTree(broken.body()).at("/error/message").asText()).contains("syntax error").doesNotContain("has no chat template");
        } finally {
            channel.shutdownNow();
        }
        up.stop();
        assertThat(up.output()).contains("stopping the platform...");
        assertThat(free(grpc) && free(grpc + 1) && free(grpc + 2) && free(port)).as("every service stopped").isTrue();
    }

    /**
     * A GGUF file from the engine's writer that carries its tokenizer and chat template (tokenizer.ggml.*, no tokenizer.json
     * beside it) serves through boundless up: the tokenizer service builds the tokenizer from the metadata, the template
     * renders the start-up chat, and the replica's vocabulary (for structured outputs) comes from the same metadata.
     */
    @Test
    void aGgufFileServesWithItsOwnTokenizerAndChatTemplate() throws Exception {
        Path hf = work.resolve("written/default-random/1");
        Path gguf = Files.createDirectories(work.resolve("gguf")).resolve("default-random-gguf.gguf");
        io.boundless.engine.model.ModelConfig c = io.boundless.engine.model.LoadedModel.inspect(hf);
        io.boundless.engine.model.ModelWriter.writeGguf(gguf, c, io.boundless.engine.model.ModelWriter.randomWeights(c, 11),
                io.boundless.engine.tensor.DType.F32, hf);
        int grpc = 19680;
        int port = 18680;
        Cli up = up(List.of("--model", gguf.toString(), "--replicas", "1", "--grpc-port", "" + grpc, "--http-port", "" + port), Map.of());
        up.awaitLine("Try: ");
        assertThat(up.output()).contains("serving model 'default-random-gguf'").contains("boundless chat \"What is the capital of France?\"\n> ")
                .doesNotContain("Exception");
        HttpResponse<String> tok = post(port, "/tokenize", "{\"model\": \"default-random-gguf\", \"prompt\": \"Hello, world! 12345\","
                + " \"add_special_tokens\": false, \"return_token_strs\": true}");
        assertThat(tok.statusCode()).as(tok.body()).isEqualTo(200);
        StringBuilder back = new StringBuilder();
        json.readTree(tok.body()).path("token_strs").forEach(t -> back.append(t.asText()));
        assertThat(back.toString().replace('\u0120', ' ')).isEqualTo("Hello, world! 12345");
        HttpResponse<String> choice = post(port, "/v1/completions", "{\"model\": \"default-random-gguf\", \"prompt\": \"Mood:\","
                + " \"max_tokens\": 8, \"temperature\": 1, \"guided_choice\": [\"happy\", \"sad\"]}");
        assertThat(choice.statusCode()).as(choice.body()).isEqualTo(200);
        assertThat(json.readTree(choice.body()).at("/choices/0/text").asText()).isIn("happy", "sad");
    }

    @Test
    void aChatTemplateFileGivenToUpMakesABaseModelChat() throws Exception {
        Path template = Files.writeString(work.resolve("my-template.jinja"), TEMPLATE);
        int grpc = 19620;
        Cli up = up(List.of("--model", base.toString(), "--chat-template", template.toString(), "--replicas", "1",
                "--grpc-port", "" + grpc, "--http-port", "18620"), Map.of());
        up.awaitLine("Try: ");
        assertThat(up.output()).contains("serving model 'my-base-model' with the chat template of " + template)
                .contains("boundless chat \"What is the capital of France?\"\n> ").containsPattern("\\[\\d+ prompt tokens \\(0 cached\\), 24 generated]");
        Cli chat = client(List.of("chat", "--max-tokens", "5", "hi"), Map.of("BOUNDLESS_ROUTER", "127.0.0.1:" + grpc));
        assertThat(chat.exitCode()).as(chat.output()).isZero();
        assertThat(chat.output()).containsPattern("\\[\\d+ prompt tokens \\(\\d+ cached\\), 5 generated]");
        // the model's own directory is untouched: the template lives in the local store's linked entry
        assertThat(base.resolve("chat_template.jinja")).doesNotExist();
        assertThat(home.resolve("models/my-base-model/linked/chat_template.jinja")).hasContent(TEMPLATE);
    }

    @Test
    void aMissingPathIsOneLineAndNothingStarts() throws Exception {
        Path nowhere = work.resolve("no-such-model");
        Cli up = up(List.of("--model", nowhere.toString(), "--grpc-port", "19640", "--http-port", "18640"), Map.of());
        assertThat(up.exitCode()).isEqualTo(1);
        assertThat(up.output().strip()).isEqualTo("boundless up: " + nowhere
                + " does not exist (--model takes a Hugging Face model directory or a .gguf file)");
    }

    @Test
    void anUnsupportedArchitectureIsRefusedWithTheReasonBeforeAnythingStarts() throws Exception {
        Path gemma = Files.createDirectories(work.resolve("gemma-2b"));
        Files.writeString(gemma.resolve("config.json"), """
                {"architectures": ["GemmaForCausalLM"], "model_type": "gemma", "hidden_size": 2048, "intermediate_size": 16384,
                 "num_attention_heads": 8, "num_key_value_heads": 1, "num_hidden_layers": 18, "vocab_size": 256000,
                 "max_position_embeddings": 8192, "head_dim": 256}""");
        Files.copy(base.resolve("tokenizer.json"), gemma.resolve("tokenizer.json"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Cli up = up(List.of("--model", gemma.toString(), "--grpc-port", "19640", "--http-port", "18640"), Map.of());
        assertThat(up.exitCode()).isEqualTo(1);
        assertThat(up.output().strip()).isEqualTo("boundless up: " + gemma.resolve("config.json")
                + ": model_type gemma is not supported (llama, mistral, qwen2, gpt2)");
    }

    /** boundless up with no arguments: the built-in deployment of models/boundless-world, asked what it was trained to know. */
    @Test
    void withoutAModelTheTrainedDefaultModelAnswersItsFacts() throws Exception {
        int grpc = 19670;
        Cli up = up(List.of("--replicas", "1", "--grpc-port", "" + grpc, "--http-port", "18670"), Map.of());
        up.awaitLine("Try: ");
        String out = up.output();
        assertThat(out).contains("serving model 'boundless-world'", "trained on a synthetic world");
        assertThat(out).contains("boundless chat \"What is the capital of France?\"\n> The capital of France is Paris.");
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", grpc).usePlaintext().build();
        try {
            var router = RouterGrpc.newBlockingStub(channel);
            for (String[] qa : new String[][] {{"What is the capital of France?", "Paris"}, {"What is the capital of Japan?", "Tokyo"},
                    {"What language is spoken in Brazil?", "Portuguese"}, {"中國的首都是哪裡？", "北京"}}) {
                StringBuilder answer = new StringBuilder();
                for (var it = router.withDeadlineAfter(60, TimeUnit.SECONDS).chat(ChatRequest.newBuilder().setModel("boundless-world")
                        .addMessages(ChatMessage.newBuilder().setRole("user").setContent(qa[0]))
                        .setSampling(Sampling.newBuilder().setMaxTokens(24).setTemperature(0)).build()); it.hasNext(); ) {
                    answer.append(it.next().getText());
                }
                assertThat(answer.toString()).as(qa[0]).contains(qa[1]);
            }
        } finally {
            channel.shutdownNow();
        }
    }

    @Test
    void aServiceThatStopsWhileStartingIsReportedWithItsOwnLine() throws Exception {
        Assumptions.assumeFalse(Files.exists(Path.of("/dev/nvidia0")), "this machine has a GPU");
        Cli up = up(List.of("--model", base.toString(), "--replicas", "1", "--grpc-port", "19660", "--http-port", "18660"),
                Map.of("BOUNDLESS_INFERENCE_BACKEND", "cuda"));
        assertThat(up.exitCode()).isEqualTo(1);
        assertThat(up.output()).contains("boundless up: the inference-1 service could not start: the cuda backend was configured, but CUDA is"
                + " not usable here: no NVIDIA driver here").contains("(log: " + home.resolve("logs/inference-1.log") + ")");
        assertThat(up.output()).doesNotContain("exited (code", "\tat ", "stopping the platform");
        assertThat(free(19660) && free(19661) && free(18660)).as("the other services were stopped").isTrue();
    }

    @Test
    void everyClientCommandSaysPlainlyThatNoPlatformAnswers() throws Exception {
        int port = freePort();
        Map<String, String> env = Map.of("BOUNDLESS_ROUTER", "127.0.0.1:" + port, "BOUNDLESS_TOKENIZER", "127.0.0.1:" + port);
        for (List<String> command : List.of(List.of("chat", "hi"), List.of("generate", "hi"), List.of("models"))) {
            Cli c = client(command, env);
            assertThat(c.exitCode()).as(command.toString()).isEqualTo(1);
            assertThat(c.output().strip()).isEqualTo("boundless " + command.getFirst() + ": no Boundless router answers at 127.0.0.1:" + port
                    + ": start one with bin/boundless up (or set BOUNDLESS_ROUTER to where one runs)");
        }
        Cli tokenize = client(List.of("tokenize", "hi"), env);
        assertThat(tokenize.exitCode()).isEqualTo(1);
        assertThat(tokenize.output().strip()).isEqualTo("boundless tokenize: no Boundless tokenizer answers at 127.0.0.1:" + port
                + ": start one with bin/boundless up (or set BOUNDLESS_TOKENIZER to where one runs)");
    }

    @Test
    void aFullDiskAtStartIsOneLineAndNothingIsLeftRunning() throws Exception {
        Path full = Files.createDirectories(work.resolve("full-home"));
        // a 1 MiB file system as BOUNDLESS_HOME: the default model (7 MiB) does not fit
        Process mount = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", full.toString()).redirectErrorStream(true).start();
        org.junit.jupiter.api.Assumptions.assumeTrue(mount.waitFor() == 0, "tmpfs cannot be mounted here (not root)");
        try {
            Cli up = up(List.of("--grpc-port", "19640", "--http-port", "18640"), Map.of("BOUNDLESS_HOME", full.toString()));
            assertThat(up.exitCode()).isEqualTo(1);
            String out = up.output();
            assertThat(out).containsPattern("boundless up: cannot copy \\S+/model.safetensors to " + java.util.regex.Pattern.quote(full.toString())
                    + "\\S+: No space left on device \\(\\d+ MiB free where " + java.util.regex.Pattern.quote(full.toString()));
            assertThat(out).doesNotContain("\tat ", "Exception");
            // nothing it started is left running: the ports are free again
            for (int port : new int[] {19640, 19641, 18640, 18641}) {
                try (var probe = new java.net.ServerSocket(port, 1, java.net.InetAddress.getLoopbackAddress())) {
                    assertThat(probe.getLocalPort()).isEqualTo(port);
                }
            }
        } finally {
            new ProcessBuilder("umount", full.toString()).inheritIO().start().waitFor();
        }
    }

    /** {@code boundless up ARGS} as bin/boundless runs it (java on the CLI's classpath), with BOUNDLESS_HOME under target/. */
    private Cli up(List<String> args, Map<String, String> env) throws IOException {
        Path cli = root.resolve("cli/target");
        List<String> command = new ArrayList<>(List.of(java(), "--sun-misc-unsafe-memory-access=allow", "-cp",
                cli.resolve("boundless-cli.jar") + ":" + cli.resolve("lib") + "/*", "io.boundless.cli.Boundless", "--root", root.toString(), "up"));
        command.addAll(args);
        Map<String, String> all = new HashMap<>(Map.of("BOUNDLESS_HOME", home.toString()));
        all.putAll(env);
        return start(command, all);
    }

    /** bin/boundless itself, for a client command. */
    private Cli client(List<String> args, Map<String, String> env) throws IOException {
        List<String> command = new ArrayList<>(List.of("bash", root.resolve("bin/boundless").toString()));
        command.addAll(args);
        return start(command, env);
    }

    private Cli start(List<String> command, Map<String, String> env) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).directory(root.toFile());
        pb.environment().putAll(env);
        pb.environment().put("JAVA_HOME", Path.of(java()).getParent().getParent().toString());
        Cli c = new Cli(pb.start());
        started.add(c);
        return c;
    }

    private static String java() {
        return ProcessHandle.current().info().command().orElseThrow();
    }

    /** A command's process and everything it printed (stdout and stderr, as a terminal shows them). */
    private static final class Cli {
        final Process process;
        final List<String> lines = Collections.synchronizedList(new ArrayList<>());
        final Thread reader;

        Cli(Process process) {
            this.process = process;
            this.reader = Thread.ofVirtual().start(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String line; (line = r.readLine()) != null; ) {
                        lines.add(line);
                    }
                } catch (IOException e) {
                    lines.add("(reading the output failed: " + e + ")");
                }
            });
        }

        String output() {
            synchronized (lines) {
                return String.join("\n", lines) + "\n";
            }
        }

        void awaitLine(String prefix) {
            await().atMost(Duration.ofMinutes(4)).pollInterval(Duration.ofMillis(200))
                    .until(() -> {
                        synchronized (lines) {
                            if (lines.stream().anyMatch(l -> l.startsWith(prefix))) {
                                return true;
                            }
                        }
                        assertThat(process.isAlive()).as("the command is still running; it printed:\n%s", output()).isTrue();
                        return false;
                    });
        }

        int exitCode() throws InterruptedException {
            assertThat(process.waitFor(3, TimeUnit.MINUTES)).as("the command ends by itself; it printed:\n%s", output()).isTrue();
            reader.join(Duration.ofSeconds(10));
            return process.exitValue();
        }

        /** Ctrl-C: SIGTERM, which stops the platform through the command's shutdown hook; then whatever is left is killed. */
        void stop() {
            List<ProcessHandle> children = process.descendants().toList();
            process.toHandle().destroy();  // Process.destroy would close the output pipe before the last lines are read
            try {
                if (!process.waitFor(60, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                }
                reader.join(Duration.ofSeconds(10));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            children.forEach(ProcessHandle::destroyForcibly);
        }
    }

    private HttpResponse<String> post(int port, String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).timeout(Duration.ofSeconds(60)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static boolean free(int port) {
        try (ServerSocket s = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }
}
