package io.boundless.router.openai;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.boundless.proto.router.v1.ChatMessage;
import io.boundless.proto.router.v1.Constraint;
import io.boundless.proto.router.v1.FinishReason;
import io.boundless.proto.router.v1.GenerateResponse;
import io.boundless.proto.router.v1.Sampling;
import io.boundless.proto.router.v1.Token;
import io.boundless.proto.router.v1.TopLogprob;
import io.boundless.router.Completion;
import io.boundless.router.CompletionSink;
import io.boundless.router.Gateway;
import io.boundless.router.RouterLifecycle;
import io.boundless.router.TextRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.jboss.logging.Logger;

/**
 * The OpenAI-compatible HTTP API: GET /v1/models, POST /v1/completions and /v1/chat/completions,
 * streaming (server-sent events ending with {@code data: [DONE]}) or not. Errors have OpenAI's body,
 * {@code {"error": {"message", "type", "param", "code"}}}, and status (400, 401, 404, 429 with
 * Retry-After, 503, 504).
 */
@ApplicationScoped
public class OpenAiRoutes {
    private static final Logger LOG = Logger.getLogger(OpenAiRoutes.class);
    private static final long STARTED = System.currentTimeMillis() / 1000;

    @Inject
    RouterLifecycle lifecycle;

    @Inject
    ObjectMapper json;

    void routes(@Observes Router router) {
        router.route("/v1/*").handler(BodyHandler.create().setBodyLimit(16L << 20));
        router.get("/v1/models").handler(this::models);
        router.post("/v1/completions").handler(ctx -> complete(ctx, false));
        router.post("/v1/chat/completions").handler(ctx -> complete(ctx, true));
        // vLLM's tokenizer endpoints
        router.route("/tokenize").handler(BodyHandler.create().setBodyLimit(16L << 20));
        router.route("/detokenize").handler(BodyHandler.create().setBodyLimit(16L << 20));
        router.post("/tokenize").handler(ctx -> blocking(ctx, this::tokenize));
        router.post("/detokenize").handler(ctx -> blocking(ctx, this::detokenize));
    }

    /** Runs a handler that calls the tokenizer service and waits for it on a virtual thread, not on the event loop. */
    private void blocking(RoutingContext ctx, java.util.function.Function<RoutingContext, ObjectNode> handler) {
        offEventLoop(ctx.response(), ctx.request().path(), () -> send(ctx.response(), 200, handler.apply(ctx)));
    }

    /** Work that blocks on other services, on a virtual thread; whatever it throws becomes the response's error. */
    private void offEventLoop(HttpServerResponse response, String what, Runnable work) {
        Thread.ofVirtual().name(what).start(() -> {
            try {
                work.run();
            } catch (StatusRuntimeException e) {
                error(response, e);
            } catch (RuntimeException e) {
                LOG.error("unexpected error in " + what, e);
                error(response, internal(e));
            }
        });
    }

    private static StatusRuntimeException internal(RuntimeException e) {
        return Status.INTERNAL.withDescription("internal error (" + e.getClass().getSimpleName() + "); see the router's log").asRuntimeException();
    }

    /**
     * POST /tokenize (vLLM's shape): {@code {model, prompt, add_special_tokens (true)}} or {@code {model, messages,
     * add_generation_prompt (true)}}, and {@code return_token_strs} → {@code {count, max_model_len, tokens, token_strs}}.
     */
    private ObjectNode tokenize(RoutingContext ctx) {
        Gateway g = lifecycle.gateway();
        g.authorize(ctx.request().getHeader("Authorization"));
        JsonNode body = parse(ctx);
        g.checkModel(requiredText(body, "model"));
        io.grpc.Deadline deadline = io.grpc.Deadline.after(g.config().requestTimeout().toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
        int[] ids;
        if (body.hasNonNull("messages")) {
            if (body.hasNonNull("prompt")) {
                throw invalid("give prompt or messages, not both", "prompt");
            }
            boolean generation = !body.hasNonNull("add_generation_prompt") || bool(body, "add_generation_prompt");
            ids = g.renderChat(messages(body), generation, deadline).getIdsList().stream().mapToInt(Integer::intValue).toArray();
        } else {
            String prompt = requiredText(body, "prompt");
            boolean special = !body.hasNonNull("add_special_tokens") || bool(body, "add_special_tokens");
            ids = g.encode(prompt, special, deadline);
        }
        ObjectNode out = json.createObjectNode().put("count", ids.length);
        int context = g.models().getFirst().getContextLength();
        if (context > 0) {
            out.put("max_model_len", context);
        } else {
            out.putNull("max_model_len");
        }
        ArrayNode tokens = out.putArray("tokens");
        for (int id : ids) {
            tokens.add(id);
        }
        if (bool(body, "return_token_strs")) {
            ArrayNode strs = out.putArray("token_strs");
            for (String t : g.pieces(ids, deadline)) {
                strs.add(t);
            }
        } else {
            out.putNull("token_strs");
        }
        return out;
    }

    /** POST /detokenize (vLLM's shape): {@code {model, tokens}} → {@code {prompt}}. */
    private ObjectNode detokenize(RoutingContext ctx) {
        Gateway g = lifecycle.gateway();
        g.authorize(ctx.request().getHeader("Authorization"));
        JsonNode body = parse(ctx);
        g.checkModel(requiredText(body, "model"));
        JsonNode t = body.get("tokens");
        if (t == null || !t.isArray()) {
            throw invalid("tokens must be an array of token ids", "tokens");
        }
        int[] ids = new int[t.size()];
        for (int i = 0; i < ids.length; i++) {
            if (!t.get(i).canConvertToInt() || !t.get(i).isIntegralNumber() || t.get(i).asInt() < 0) {
                throw invalid("tokens must be an array of token ids (non-negative integers)", "tokens");
            }
            ids[i] = t.get(i).asInt();
        }
        String text = g.decode(ids, io.grpc.Deadline.after(g.config().requestTimeout().toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS));
        return json.createObjectNode().put("prompt", text);
    }

    private void models(RoutingContext ctx) {
        try {
            Gateway g = lifecycle.gateway();
            g.authorize(ctx.request().getHeader("Authorization"));
            ArrayNode data = json.createArrayNode();
            for (var m : g.models()) {
                data.addObject().put("id", m.getId()).put("object", "model").put("created", STARTED).put("owned_by", "boundless");
            }
            ObjectNode body = json.createObjectNode().put("object", "list");
            body.set("data", data);
            send(ctx.response(), 200, body);
        } catch (StatusRuntimeException e) {
            error(ctx.response(), e);
        }
    }

    private void complete(RoutingContext ctx, boolean chat) {
        HttpServerResponse response = ctx.response();
        try {
            Gateway g = lifecycle.gateway();
            String key = g.authorize(ctx.request().getHeader("Authorization"));
            JsonNode body = parse(ctx);
            String model = requiredText(body, "model");
            boolean stream = bool(body, "stream");
            boolean includeUsage = stream && body.path("stream_options").path("include_usage").asBoolean(false);
            if (body.hasNonNull(ReasoningApi.FIELD)) {
                if (!chat) {
                    throw invalid(ReasoningApi.FIELD + " is an extension of /v1/chat/completions", ReasoningApi.FIELD);
                }
                var reason = ReasoningApi.request(body, model, messages(body), sampling(body, true));
                String id = "chatcmpl-" + UUID.randomUUID().toString().replace("-", "");
                var out = new ReasoningApi.Output(this, json, response, id, model, System.currentTimeMillis() / 1000, stream, includeUsage);
                var reasoner = lifecycle.reasoning().start(reason, key, g.stickinessKey(ctx.request()::getHeader, optionalText(body, "user")), null, out);
                response.closeHandler(v -> reasoner.cancel());
                return;
            }
            Parsed p = read(body, model, chat, stream);
            int n = p.n();
            boolean echo = p.echo();
            boolean scoreOnly = p.scoreOnly();
            int bestOf = p.bestOf();
            Sampling sampling = p.sampling();
            ToolsApi.Request tools = p.tools();
            String id = p.req().requestId();
            TextRequest req = p.req();
            req = req.withStickinessKey(g.stickinessKey(ctx.request()::getHeader, optionalText(body, "user"))).withCaller(key);
            boolean logprobs = chat ? bool(body, "logprobs") : body.hasNonNull("logprobs");
            long created = System.currentTimeMillis() / 1000;
            Output out = stream ? new Streamed(response, chat, id, model, created, n, includeUsage, logprobs)
                    : new Whole(response, chat, id, model, created, bestOf, n, logprobs);
            if (echo) {
                echoThenComplete(g, req, out, scoreOnly, sampling.getLogprobs());
                return;
            }
            if (tools.reads()) {
                // the model family's tool-call format comes from the tokenizer once (a blocking call): off the event loop
                TextRequest r = req;
                offEventLoop(response, "chat", () -> {
                    io.grpc.Deadline deadline = io.grpc.Deadline.after(g.config().requestTimeout().toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
                    String own = r.chatTemplate() == null ? "" : io.boundless.router.tools.ToolCalls.familyOf(r.chatTemplate());
                    out.tools(tools, own.isEmpty() ? g.toolCallFormat(deadline) : own);
                    Completion c = g.start(r, deadline, out);
                    response.closeHandler(v -> c.cancel());
                });
                return;
            }
            Completion c = g.start(req, null, out);
            response.closeHandler(v -> c.cancel());
        } catch (StatusRuntimeException e) {
            error(response, e);
        } catch (RuntimeException e) {
            LOG.error("unexpected error starting a request", e);
            error(response, internal(e));
        }
    }

    /** A completion or chat body read into a request (everything but who asks and stickiness); bad fields throw INVALID_ARGUMENT naming them. */
    record Parsed(int n, boolean echo, boolean scoreOnly, int bestOf, Sampling sampling, ToolsApi.Request tools, TextRequest req) {}

    static Parsed read(JsonNode body, String model, boolean chat, boolean stream) {
        int n = body.has("n") && !body.get("n").isNull() ? intValue(body, "n", 1, Integer.MAX_VALUE) : 1;
        // echo (completions): the prompt comes back before the completion, with its tokens' log-probabilities when asked;
        // max_tokens 0 with echo scores the prompt and generates nothing (how evaluation harnesses ask for log-likelihoods)
        boolean echo = bool(body, "echo");
        if (echo && chat) {
            throw invalid("echo is a parameter of /v1/completions", "echo");
        }
        boolean scoreOnly = echo && body.hasNonNull("max_tokens") && body.get("max_tokens").isIntegralNumber() && body.get("max_tokens").asInt() == 0;
        if (scoreOnly) {
            ((ObjectNode) body).put("max_tokens", 1);  // checked as usual; nothing is generated
        }
        // best_of (completions): draw that many, return the n best by mean token log-probability; not streamed (as OpenAI)
        int bestOf = n;
        if (body.hasNonNull("best_of")) {
            if (chat) {
                throw invalid("best_of is a parameter of /v1/completions", "best_of");
            }
            bestOf = intValue(body, "best_of", 1, Integer.MAX_VALUE);
            if (bestOf < n) {
                throw invalid("best_of (" + bestOf + ") must be at least n (" + n + ")", "best_of");
            }
            if (stream && bestOf > n) {
                throw invalid("best_of above n cannot be streamed: the best are known only once all have ended", "best_of");
            }
        }
        Sampling sampling = sampling(body, chat);
        ToolsApi.Request tools = chat ? ToolsApi.request(body) : ToolsApi.NO_TOOLS;
        Constraint forced = ToolsApi.constraint(tools);
        if (forced != null) {
            if (sampling.hasConstraint()) {
                throw invalid("tool_choice " + (tools.mode() == ToolsApi.Mode.NAMED ? "naming a function" : "required")
                        + " constrains the output to the tool call; it cannot be combined with response_format or guided decoding", "tool_choice");
            }
            sampling = sampling.toBuilder().setConstraint(forced).build();
            try {
                io.boundless.router.Gateway.checkConstraint(sampling);
            } catch (StatusRuntimeException e) {
                throw invalid("a tool's parameters cannot be enforced: " + e.getStatus().getDescription(), "tools");
            }
        }
        String id = (chat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString().replace("-", "");
        TextRequest req = chat ? TextRequest.ofChat(model, messages(body), optionalText(body, "chat_template"), sampling, n, id)
                .withTools(tools.tools()) : prompt(body, model, sampling, bestOf, id);
        return new Parsed(n, echo, scoreOnly, bestOf, sampling, tools, req.withBatch(batch(body)));
    }

    /**
     * The scheduling class: {@code priority} "interactive" (default) or "batch", or OpenAI's {@code service_tier}
     * ("flex" is batch; "auto", "default", "priority" interactive).
     */
    static boolean batch(JsonNode b) {
        boolean batch = false;
        if (b.hasNonNull("priority")) {
            batch = switch (b.get("priority").isTextual() ? b.get("priority").asText() : "") {
                case "interactive" -> false;
                case "batch" -> true;
                default -> throw invalid("priority is \"interactive\" or \"batch\", not " + b.get("priority"), "priority");
            };
        }
        if (b.hasNonNull("service_tier")) {
            switch (b.get("service_tier").isTextual() ? b.get("service_tier").asText() : "") {
                case "flex" -> batch = true;
                case "auto", "default", "priority" -> { }
                default -> throw invalid("service_tier is \"auto\", \"default\", \"flex\" or \"priority\", not " + b.get("service_tier"), "service_tier");
            }
        }
        return batch;
    }

    /**
     * Echo: the prompt's ids (tokenized here), its text, and with logprobs each prompt token's log-probability after the
     * tokens before it (a Score call on the replica the prompt routes to; the first token has none). Then the completion
     * runs on those ids, its output prefixed by the echo; or, with max_tokens 0, the echo alone is the answer.
     * Blocking calls: on a virtual thread.
     */
    private void echoThenComplete(Gateway g, TextRequest req, Output out, boolean scoreOnly, int topLogprobs) {
        offEventLoop(out.response, "echo", () -> {
            io.grpc.Deadline deadline = io.grpc.Deadline.after(g.config().requestTimeout().toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
            int[] ids = req.ids() != null ? req.ids() : g.encode(req.text(), true, deadline);
            if (ids.length == 0) {
                throw invalid("the prompt is empty", "prompt");
            }
            String text = req.text() != null ? req.text() : g.decode(ids, deadline);
            List<Token> tokens = new ArrayList<>();
            List<String> texts = new ArrayList<>();
            if (out.logprobs) {
                var scored = ids.length > 1 ? g.scorePrompt(ids, topLogprobs, req.stickinessKey(), deadline)
                        : io.boundless.proto.inference.v1.ScoreResponse.getDefaultInstance();
                String[] pieces = g.pieces(ids, deadline);
                texts.addAll(List.of(pieces));
                tokens.add(Token.newBuilder().setTokenId(ids[0]).build());  // the first token has no log-probability
                for (var t : scored.getTokensList()) {
                    Token.Builder b = Token.newBuilder().setTokenId(t.getTokenId()).setLogprob(t.getLogprob());
                    if (t.getTopLogprobsCount() > 0) {
                        int[] alt = t.getTopLogprobsList().stream().mapToInt(a -> a.getTokenId()).toArray();
                        String[] altTexts = g.pieces(alt, deadline);
                        for (int k = 0; k < alt.length; k++) {
                            b.addTopLogprobs(TopLogprob.newBuilder().setTokenId(alt[k]).setText(altTexts[k]).setLogprob(t.getTopLogprobs(k).getLogprob()));
                        }
                    }
                    tokens.add(b.build());
                }
            }
            out.echo = new Echo(text, tokens, texts);
            if (scoreOnly) {
                out.echoOnly(req.n(), ids.length);
                return;
            }
            Completion c = g.start(TextRequest.ofIds(req.model(), ids, req.sampling(), req.n(), req.requestId()).withStickinessKey(req.stickinessKey())
                    .withCaller(req.caller()),
                    deadline, out);
            out.response.closeHandler(v -> c.cancel());
        });
    }

    /** The prompt echoed before a completion: its text and, with logprobs, its tokens (the first without a log-probability) and their texts. */
    record Echo(String text, List<Token> tokens, List<String> texts) {}

    private JsonNode parse(RoutingContext ctx) {
        return parseBody(json, ctx.body() == null ? null : ctx.body().asString(StandardCharsets.UTF_8.name()));
    }

    /** A request body: a JSON object, or INVALID_ARGUMENT saying why not. */
    static JsonNode parseBody(ObjectMapper json, String raw) {
        if (raw == null || raw.isBlank()) {
            throw invalid("the request body must be a JSON object", null);
        }
        try {
            JsonNode node = json.readTree(raw);
            if (node == null || !node.isObject()) {
                throw invalid("the request body must be a JSON object", null);
            }
            return node;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw invalid("the request body is not valid JSON: " + e.getOriginalMessage(), null);
        }
    }

    static Sampling sampling(JsonNode b, boolean chat) {
        Sampling.Builder s = Sampling.newBuilder();
        if (b.hasNonNull("temperature")) {
            s.setTemperature((float) number(b, "temperature"));
        }
        if (b.hasNonNull("top_p")) {
            s.setTopP((float) number(b, "top_p"));
        }
        if (b.hasNonNull("top_k")) {
            s.setTopK(intValue(b, "top_k", 0, Integer.MAX_VALUE));
        }
        if (b.hasNonNull("min_p")) {
            s.setMinP((float) number(b, "min_p"));
        }
        if (b.hasNonNull("presence_penalty")) {
            s.setPresencePenalty((float) number(b, "presence_penalty"));
        }
        if (b.hasNonNull("frequency_penalty")) {
            s.setFrequencyPenalty((float) number(b, "frequency_penalty"));
        }
        if (b.hasNonNull("repetition_penalty")) {
            s.setRepetitionPenalty((float) number(b, "repetition_penalty"));
        }
        // vLLM's extra sampling parameters
        if (b.hasNonNull("ignore_eos")) {
            s.setIgnoreEos(bool(b, "ignore_eos"));
        }
        if (b.hasNonNull("min_tokens")) {
            s.setMinTokens(intValue(b, "min_tokens", 0, Integer.MAX_VALUE));
        }
        JsonNode stopIds = b.get("stop_token_ids");
        if (stopIds != null && !stopIds.isNull()) {
            if (!stopIds.isArray()) {
                throw invalid("stop_token_ids must be an array of token ids", "stop_token_ids");
            }
            for (JsonNode x : stopIds) {
                if (!x.canConvertToInt() || x.asInt() < 0) {
                    throw invalid("stop_token_ids must be an array of token ids", "stop_token_ids");
                }
                s.addStopTokenIds(x.asInt());
            }
        }
        if (b.hasNonNull("seed")) {
            if (!b.get("seed").canConvertToLong()) {
                throw invalid("seed must be an integer", "seed");
            }
            s.setSeed(b.get("seed").asLong());
        }
        String maxKey = chat && b.hasNonNull("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        if (b.hasNonNull(maxKey)) {
            s.setMaxTokens(intValue(b, maxKey, 1, Integer.MAX_VALUE));
        }
        if (chat) {
            if (bool(b, "logprobs")) {  // each token's log-probability always comes; top_logprobs asks for alternatives
                s.setLogprobs(b.hasNonNull("top_logprobs") ? intValue(b, "top_logprobs", 0, 20) : 0);
            } else if (b.hasNonNull("top_logprobs")) {
                throw invalid("top_logprobs needs logprobs: true", "top_logprobs");
            }
        } else if (b.hasNonNull("logprobs")) {
            s.setLogprobs(intValue(b, "logprobs", 0, 20));
        }
        JsonNode stop = b.get("stop");
        if (stop != null && !stop.isNull()) {
            if (stop.isTextual()) {
                s.addStop(stop.asText());
            } else if (stop.isArray()) {
                for (JsonNode x : stop) {
                    if (!x.isTextual()) {
                        throw invalid("stop must be a string or an array of strings", "stop");
                    }
                    s.addStop(x.asText());
                }
            } else {
                throw invalid("stop must be a string or an array of strings", "stop");
            }
        }
        JsonNode bias = b.get("logit_bias");
        if (bias != null && !bias.isNull()) {
            if (!bias.isObject()) {
                throw invalid("logit_bias must be an object of token id (as a string) -> bias from -100 to 100", "logit_bias");
            }
            for (var it = bias.fields(); it.hasNext(); ) {
                var e = it.next();
                int id;
                try {
                    id = Integer.parseInt(e.getKey());
                } catch (NumberFormatException x) {
                    throw invalid("logit_bias keys are token ids, not '" + e.getKey() + "'", "logit_bias");
                }
                if (id < 0 || !e.getValue().isNumber() || !(Math.abs(e.getValue().asDouble()) <= 100)) {
                    throw invalid("logit_bias maps token ids (0 or more) to a bias from -100 to 100; '" + e.getKey() + "': " + e.getValue() + " is not one",
                            "logit_bias");
                }
                s.putLogitBias(id, (float) e.getValue().asDouble());
            }
        }
        io.boundless.proto.router.v1.Constraint constraint = constraint(b);
        if (constraint != null) {
            s.setConstraint(constraint);
            try {
                io.boundless.router.Gateway.checkConstraint(s.build());
            } catch (StatusRuntimeException e) {
                throw invalid(e.getStatus().getDescription(), b.hasNonNull("response_format") ? "response_format"
                        : GUIDED.stream().filter(b::hasNonNull).findFirst().orElse("response_format"));
            }
        }
        for (String unsupported : chat ? List.of("suffix") : List.of("suffix", "tools", "functions", "tool_choice")) {
            if (b.hasNonNull(unsupported)) {
                throw invalid(unsupported + " is not supported by this server", unsupported);
            }
        }
        return s.build();
    }

    private static final List<String> GUIDED = List.of("guided_json", "guided_regex", "guided_choice", "guided_grammar", "structured_outputs");

    /**
     * The structured-output constraint a body asks for: OpenAI's response_format (text, json_object, json_schema
     * with name, schema and strict), or one of vLLM's guided_json, guided_regex, guided_choice, guided_grammar, or
     * its structured_outputs object (json, regex, choice, grammar). More than one is refused.
     */
    static io.boundless.proto.router.v1.Constraint constraint(JsonNode b) {
        List<String> given = new ArrayList<>();
        for (String k : GUIDED) {
            if (b.hasNonNull(k)) {
                given.add(k);
            }
        }
        JsonNode rf = b.get("response_format");
        io.boundless.proto.router.v1.Constraint fromFormat = null;
        if (rf != null && !rf.isNull()) {
            String type = rf.path("type").asText("");
            fromFormat = switch (type) {
                case "text" -> null;
                case "json_object" -> io.boundless.proto.router.v1.Constraint.newBuilder().setJsonObject(true).build();
                case "json_schema" -> {
                    JsonNode js = rf.get("json_schema");
                    if (js == null || !js.isObject()) {
                        throw invalid("response_format of type json_schema needs a json_schema object with name and schema", "response_format");
                    }
                    if (js.has("name") && !js.get("name").asText().matches("[A-Za-z0-9_-]{1,64}")) {
                        throw invalid("response_format.json_schema.name must be 1 to 64 letters, digits, '_' or '-'", "response_format");
                    }
                    JsonNode schema = js.get("schema");
                    if (schema == null || !(schema.isObject() || schema.isBoolean())) {
                        throw invalid("response_format.json_schema.schema must be a JSON Schema object", "response_format");
                    }
                    yield io.boundless.proto.router.v1.Constraint.newBuilder().setJsonSchema(schema.toString()).build();
                }
                default -> throw invalid("response_format.type must be text, json_object or json_schema, not '" + type + "'", "response_format");
            };
            if (fromFormat != null) {
                given.add("response_format");
            }
        }
        if (given.size() > 1) {
            throw invalid("give one of response_format, " + String.join(", ", GUIDED) + "; this request gives " + String.join(" and ", given),
                    given.get(1));
        }
        if (given.isEmpty()) {
            return null;
        }
        String key = given.getFirst();
        if (key.equals("response_format")) {
            return fromFormat;
        }
        JsonNode v = b.get(key);
        String kind = key.substring(key.indexOf('_') + 1);
        if (key.equals("structured_outputs")) {
            List<String> kinds = new ArrayList<>();
            for (String f : List.of("json", "regex", "choice", "grammar")) {
                if (v.hasNonNull(f)) {
                    kinds.add(f);
                }
            }
            if (kinds.size() != 1) {
                throw invalid("structured_outputs must give one of json, regex, choice, grammar", key);
            }
            kind = kinds.getFirst();
            v = v.get(kind);
        }
        var c = io.boundless.proto.router.v1.Constraint.newBuilder();
        switch (kind) {
            case "json" -> {
                if (v.isTextual()) {
                    c.setJsonSchema(v.asText());
                } else if (v.isObject() || v.isBoolean()) {
                    c.setJsonSchema(v.toString());
                } else {
                    throw invalid(key + " must be a JSON Schema (an object, or one as a string)", key);
                }
            }
            case "regex" -> {
                if (!v.isTextual() || v.asText().isEmpty()) {
                    throw invalid(key + " must be a non-empty regular expression", key);
                }
                c.setRegex(v.asText());
            }
            case "choice" -> {
                if (!v.isArray() || v.isEmpty()) {
                    throw invalid(key + " must be a non-empty array of strings", key);
                }
                var list = io.boundless.proto.router.v1.Choices.newBuilder();
                for (JsonNode x : v) {
                    if (!x.isTextual() || x.asText().isEmpty()) {
                        throw invalid(key + " must be a non-empty array of non-empty strings", key);
                    }
                    list.addChoices(x.asText());
                }
                c.setChoice(list);
            }
            case "grammar" -> {
                if (!v.isTextual() || v.asText().isBlank()) {
                    throw invalid(key + " must be a GBNF grammar (text with a rule named root)", key);
                }
                c.setGrammar(v.asText());
            }
            default -> throw invalid("unknown structured output " + key, key);
        }
        return c.build();
    }

    private static TextRequest prompt(JsonNode b, String model, Sampling s, int n, String id) {
        JsonNode p = b.get("prompt");
        if (p == null || p.isNull()) {
            throw invalid("prompt is required", "prompt");
        }
        if (p.isTextual()) {
            return TextRequest.ofText(model, p.asText(), s, n, id);
        }
        if (p.isArray() && p.size() == 1 && p.get(0).isTextual()) {
            return TextRequest.ofText(model, p.get(0).asText(), s, n, id);
        }
        if (p.isArray() && !p.isEmpty() && p.get(0).isIntegralNumber()) {
            int[] ids = new int[p.size()];
            for (int i = 0; i < ids.length; i++) {
                if (!p.get(i).canConvertToInt() || p.get(i).asInt() < 0) {
                    throw invalid("prompt token ids must be non-negative integers", "prompt");
                }
                ids[i] = p.get(i).asInt();
            }
            return TextRequest.ofIds(model, ids, s, n, id);
        }
        throw invalid("prompt must be a string, a one-string array or an array of token ids (batches of prompts are not supported: send one request each)", "prompt");
    }

    static List<ChatMessage> messages(JsonNode b) {
        JsonNode m = b.get("messages");
        if (m == null || !m.isArray() || m.isEmpty()) {
            throw invalid("messages must be a non-empty array", "messages");
        }
        List<ChatMessage> out = new ArrayList<>();
        for (JsonNode x : m) {
            String role = x.path("role").asText("");
            if (role.isEmpty()) {
                throw invalid("every message needs a role", "messages");
            }
            JsonNode c = x.get("content");
            String content;
            if (c == null || c.isNull()) {
                content = "";
            } else if (c.isTextual()) {
                content = c.asText();
            } else if (c.isArray()) {
                StringBuilder t = new StringBuilder();
                for (JsonNode part : c) {
                    if (!"text".equals(part.path("type").asText())) {
                        throw invalid("only text content parts are supported, not '" + part.path("type").asText() + "'", "messages");
                    }
                    t.append(part.path("text").asText());
                }
                content = t.toString();
            } else {
                throw invalid("a message's content must be a string or an array of text parts", "messages");
            }
            out.add(ToolsApi.message(x, content));
        }
        return out;
    }

    /** A required string field. */
    private static String requiredText(JsonNode b, String key) {
        String v = optionalText(b, key);
        if (v == null) {
            throw invalid(key + " is required", key);
        }
        return v;
    }

    /** An optional string field (null when absent or null). */
    private static String optionalText(JsonNode b, String key) {
        JsonNode v = b.get(key);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isTextual()) {
            throw invalid(key + " must be a string", key);
        }
        return v.asText();
    }

    private static boolean bool(JsonNode b, String key) {
        JsonNode v = b.get(key);
        if (v == null || v.isNull()) {
            return false;
        }
        if (!v.isBoolean()) {
            throw invalid(key + " must be true or false", key);
        }
        return v.asBoolean();
    }

    private static double number(JsonNode b, String key) {
        JsonNode v = b.get(key);
        if (!v.isNumber()) {
            throw invalid(key + " must be a number", key);
        }
        return v.asDouble();
    }

    private static int intValue(JsonNode b, String key, int min, int max) {
        JsonNode v = b.get(key);
        if (!v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() < min || v.asInt() > max) {
            throw invalid(key + " must be an integer from " + min + (max == Integer.MAX_VALUE ? " up" : " to " + max) + ", not " + v, key);
        }
        return v.asInt();
    }

    static StatusRuntimeException invalid(String message, String param) {
        return Status.INVALID_ARGUMENT.withDescription(message).augmentDescription(param == null ? "" : "param=" + param).asRuntimeException();
    }

    // ---- output ----

    private abstract class Output implements CompletionSink {
        final HttpServerResponse response;
        final boolean chat;
        final String id;
        final String model;
        final long created;
        final boolean logprobs;
        /** The prompt to echo before each choice's text (completions with echo), or null. */
        Echo echo;
        /** The request's tools; their calls are read from the output when it allows them. */
        ToolsApi.Request tools = ToolsApi.NO_TOOLS;
        String family = "hermes";

        void tools(ToolsApi.Request t, String f) {
            tools = t;
            family = f;
        }

        Output(HttpServerResponse response, boolean chat, String id, String model, long created, boolean logprobs) {
            this.response = response;
            this.chat = chat;
            this.id = id;
            this.model = model;
            this.created = created;
            this.logprobs = logprobs;
        }

        ObjectNode envelope(String object) {
            return json.createObjectNode().put("id", id).put("object", object).put("created", created).put("model", model);
        }

        ObjectNode usage(GenerateResponse chunk) {
            return ReasoningApi.usage(json, chunk.getUsage());
        }

        /** Chat logprobs entries ({token, logprob, bytes, top_logprobs}) of tokens whose text is given. */
        void chatLogprobs(ArrayNode content, List<Token> tokens, List<String> texts) {
            for (int i = 0; i < tokens.size(); i++) {
                Token t = tokens.get(i);
                ObjectNode e = content.addObject().put("token", texts.get(i)).put("logprob", t.getLogprob());
                bytes(e, texts.get(i));
                ArrayNode top = e.putArray("top_logprobs");
                for (TopLogprob a : t.getTopLogprobsList()) {
                    ObjectNode x = top.addObject().put("token", a.getText()).put("logprob", a.getLogprob());
                    bytes(x, a.getText());
                }
            }
        }

        /** The echoed prompt's entries of completions logprobs: the first token's log-probability and alternatives are null. */
        void echoLogprobs(ObjectNode lp) {
            ArrayNode toks = (ArrayNode) lp.withArray("tokens");
            ArrayNode lps = (ArrayNode) lp.withArray("token_logprobs");
            ArrayNode tops = (ArrayNode) lp.withArray("top_logprobs");
            ArrayNode offs = (ArrayNode) lp.withArray("text_offset");
            int offset = 0;
            for (int i = 0; i < echo.tokens().size(); i++) {
                Token t = echo.tokens().get(i);
                toks.add(echo.texts().get(i));
                if (i == 0) {
                    lps.addNull();
                    tops.addNull();
                } else {
                    lps.add(t.getLogprob());
                    ObjectNode top = tops.addObject();
                    for (TopLogprob a : t.getTopLogprobsList()) {
                        top.put(a.getText(), a.getLogprob());
                    }
                }
                offs.add(offset);
                offset += echo.texts().get(i).length();
            }
        }

        /** max_tokens 0 with echo: each of n choices is the prompt alone (its log-probabilities when asked); nothing was generated. */
        void echoOnly(int n, int promptTokens) {
            ObjectNode body = envelope("text_completion");
            ArrayNode choices = body.putArray("choices");
            for (int i = 0; i < n; i++) {
                ObjectNode c = choices.addObject().put("index", i).put("text", echo.text());
                if (logprobs) {
                    echoLogprobs(c.putObject("logprobs"));
                } else {
                    c.putNull("logprobs");
                }
                c.put("finish_reason", "length");
            }
            body.set("usage", ReasoningApi.usage(json, io.boundless.proto.router.v1.Usage.newBuilder().setPromptTokens(promptTokens).build()));
            if (this instanceof Streamed st) {
                st.sendWhole(body);
            } else {
                send(response, 200, body);
            }
        }

        /** Completions logprobs ({tokens, token_logprobs, top_logprobs, text_offset}) appended to. */
        void completionLogprobs(ObjectNode lp, List<Token> tokens, List<String> texts, int offset) {
            ArrayNode toks = (ArrayNode) lp.withArray("tokens");
            ArrayNode lps = (ArrayNode) lp.withArray("token_logprobs");
            ArrayNode tops = (ArrayNode) lp.withArray("top_logprobs");
            ArrayNode offs = (ArrayNode) lp.withArray("text_offset");
            for (int i = 0; i < tokens.size(); i++) {
                toks.add(texts.get(i));
                lps.add(tokens.get(i).getLogprob());
                ObjectNode top = tops.addObject();
                for (TopLogprob a : tokens.get(i).getTopLogprobsList()) {
                    top.put(a.getText(), a.getLogprob());
                }
                offs.add(offset);
                offset += texts.get(i).length();
            }
        }

        private void bytes(ObjectNode e, String text) {
            ArrayNode b = e.putArray("bytes");
            for (byte x : text.getBytes(StandardCharsets.UTF_8)) {
                b.add(x & 0xFF);
            }
        }

        /**
         * Each token's text: the chunk's text split over its tokens (the text belongs to the last
         * token that completed it; tokens inside a multi-byte character have empty text).
         */
        List<String> tokenTexts(GenerateResponse chunk) {
            List<String> out = new ArrayList<>();
            for (int i = 0; i < chunk.getTokensCount(); i++) {
                out.add(i == chunk.getTokensCount() - 1 ? chunk.getText() : "");
            }
            return out;
        }
    }

    /** Server-sent events: one event per chunk, then the usage (if asked for), then [DONE]. */
    private final class Streamed extends Output {
        private final boolean includeUsage;
        private final boolean[] roleSent;
        private final int[] offsets;

        Streamed(HttpServerResponse response, boolean chat, String id, String model, long created, int n, boolean includeUsage, boolean logprobs) {
            super(response, chat, id, model, created, logprobs);
            this.includeUsage = includeUsage;
            this.roleSent = new boolean[n];
            this.offsets = new int[n];
            response.setChunked(true).putHeader("Content-Type", "text/event-stream").putHeader("Cache-Control", "no-cache");
        }

        @Override
        public void onChunk(GenerateResponse chunk) {
            if (chunk.hasUsage()) {
                if (includeUsage) {
                    ObjectNode e = envelope(chat ? "chat.completion.chunk" : "text_completion");
                    e.putArray("choices");
                    e.set("usage", usage(chunk));
                    event(e);
                }
                return;
            }
            if (chat && tools.reads()) {
                toolChunk(chunk);
                return;
            }
            ObjectNode e = envelope(chat ? "chat.completion.chunk" : "text_completion");
            ObjectNode choice = e.putArray("choices").addObject().put("index", chunk.getIndex());
            if (chat) {
                ObjectNode delta = choice.putObject("delta");
                if (!roleSent[chunk.getIndex()]) {
                    delta.put("role", "assistant");
                    roleSent[chunk.getIndex()] = true;
                }
                if (!chunk.getText().isEmpty() || chunk.getFinishReason() == FinishReason.FINISH_REASON_UNSPECIFIED) {
                    delta.put("content", chunk.getText());
                }
                if (logprobs && chunk.getTokensCount() > 0) {
                    chatLogprobs(choice.putObject("logprobs").putArray("content"), chunk.getTokensList(), tokenTexts(chunk));
                } else {
                    choice.putNull("logprobs");
                }
            } else {
                int i = chunk.getIndex();
                if (echo != null && !roleSent[i]) {  // the echoed prompt comes first, as its own event
                    roleSent[i] = true;
                    ObjectNode ee = envelope("text_completion");
                    ObjectNode ec = ee.putArray("choices").addObject().put("index", i).put("text", echo.text());
                    if (logprobs) {
                        echoLogprobs(ec.putObject("logprobs"));
                    } else {
                        ec.putNull("logprobs");
                    }
                    ec.putNull("finish_reason");
                    event(ee);
                    offsets[i] = echo.text().length();
                }
                choice.put("text", chunk.getText());
                if (logprobs && chunk.getTokensCount() > 0) {
                    completionLogprobs(choice.putObject("logprobs"), chunk.getTokensList(), tokenTexts(chunk), offsets[chunk.getIndex()]);
                } else {
                    choice.putNull("logprobs");
                }
                offsets[chunk.getIndex()] += chunk.getText().length();
            }
            finish(choice, chunk.getFinishReason());
            event(e);
        }

        private final java.util.Map<Integer, io.boundless.router.tools.ToolCalls.Stream> toolStreams = new java.util.HashMap<>();

        /** A chunk of a chat whose output is read for tool calls: content and call deltas as they become certain. */
        private void toolChunk(GenerateResponse chunk) {
            int i = chunk.getIndex();
            var st = toolStreams.computeIfAbsent(i, k -> new io.boundless.router.tools.ToolCalls.Stream(tools.format(family), tools.named(),
                    x -> ToolsApi.newId(family)));
            List<io.boundless.router.tools.ToolCalls.Delta> deltas = new ArrayList<>(st.feed(chunk.getText()));
            boolean last = chunk.getFinishReason() != FinishReason.FINISH_REASON_UNSPECIFIED;
            if (last) {
                deltas.addAll(st.finish());
            }
            boolean logprobsSent = false;
            if (!roleSent[i] && deltas.isEmpty()) {
                deltas.add(new io.boundless.router.tools.ToolCalls.Delta("", -1, null, null, null));
            }
            for (var d : deltas) {
                ObjectNode e = envelope("chat.completion.chunk");
                ObjectNode choice = e.putArray("choices").addObject().put("index", i);
                ObjectNode delta = choice.putObject("delta");
                if (!roleSent[i]) {
                    delta.put("role", "assistant");
                    roleSent[i] = true;
                }
                if (d.isContent()) {
                    delta.put("content", d.content());
                } else {
                    ToolsApi.putDelta(delta, d);
                }
                if (logprobs && !logprobsSent && chunk.getTokensCount() > 0) {
                    chatLogprobs(choice.putObject("logprobs").putArray("content"), chunk.getTokensList(), tokenTexts(chunk));
                    logprobsSent = true;
                } else {
                    choice.putNull("logprobs");
                }
                choice.putNull("finish_reason");
                event(e);
            }
            if (last) {
                ObjectNode e = envelope("chat.completion.chunk");
                ObjectNode choice = e.putArray("choices").addObject().put("index", i);
                choice.putObject("delta");
                choice.putNull("logprobs");
                if (!st.calls().isEmpty()) {
                    finishToolCalls(choice);
                } else {
                    finish(choice, chunk.getFinishReason());
                }
                event(e);
            }
        }

        @Override
        public void onError(StatusRuntimeException error) {
            if (!response.headWritten()) {
                error(response, error);
                return;
            }
            ObjectNode e = json.createObjectNode();
            e.set("error", errorBody(error).get("error"));
            event(e);
            end();
        }

        @Override
        public void onCompleted() {
            end();
        }

        private void event(ObjectNode e) {
            if (!response.closed() && !response.ended()) {
                response.write("data: " + e + "\n\n");
            }
        }

        private void end() {
            if (!response.closed() && !response.ended()) {
                response.end("data: [DONE]\n\n");
            }
        }

        /** A whole answer (echo with max_tokens 0) as one event, the usage chunk when asked, then [DONE]. */
        void sendWhole(ObjectNode body) {
            var usage = body.remove("usage");
            event(body);
            if (includeUsage) {
                ObjectNode e = envelope("text_completion");
                e.putArray("choices");
                e.set("usage", usage);
                event(e);
            }
            end();
        }
    }

    /** One JSON body once every sample has finished. */
    private final class Whole extends Output {
        private final StringBuilder[] texts;
        private final FinishReason[] reasons;
        private final List<List<Token>> tokens = new ArrayList<>();
        private final List<List<String>> tokenTexts = new ArrayList<>();
        private final double[] logprobSums;
        private final int[] counts;
        /** Choices returned: the best of all samples by mean token log-probability when fewer than were drawn (best_of). */
        private final int keep;
        private GenerateResponse usage;

        Whole(HttpServerResponse response, boolean chat, String id, String model, long created, int n, boolean logprobs) {
            this(response, chat, id, model, created, n, n, logprobs);
        }

        Whole(HttpServerResponse response, boolean chat, String id, String model, long created, int n, int keep, boolean logprobs) {
            super(response, chat, id, model, created, logprobs);
            this.keep = keep;
            texts = new StringBuilder[n];
            reasons = new FinishReason[n];
            logprobSums = new double[n];
            counts = new int[n];
            for (int i = 0; i < n; i++) {
                texts[i] = new StringBuilder();
                tokens.add(new ArrayList<>());
                tokenTexts.add(new ArrayList<>());
            }
        }

        @Override
        public void onChunk(GenerateResponse chunk) {
            if (chunk.hasUsage()) {
                usage = chunk;
                return;
            }
            int i = chunk.getIndex();
            texts[i].append(chunk.getText());
            for (Token t : chunk.getTokensList()) {
                logprobSums[i] += t.getLogprob();
                counts[i]++;
            }
            if (logprobs) {
                tokens.get(i).addAll(chunk.getTokensList());
                tokenTexts.get(i).addAll(tokenTexts(chunk));
            }
            if (chunk.getFinishReason() != FinishReason.FINISH_REASON_UNSPECIFIED) {
                reasons[i] = chunk.getFinishReason();
            }
        }

        @Override
        public void onError(StatusRuntimeException error) {
            error(response, error);
        }

        @Override
        public void onCompleted() {
            ObjectNode body = envelope(chat ? "chat.completion" : "text_completion");
            ArrayNode choices = body.putArray("choices");
            Integer[] order = new Integer[texts.length];
            for (int i = 0; i < order.length; i++) {
                order[i] = i;
            }
            if (keep < texts.length) {  // best_of: the samples with the highest mean log-probability per token, best first
                java.util.Arrays.sort(order, java.util.Comparator.comparingDouble(i -> counts[i] == 0 ? Double.NEGATIVE_INFINITY : -logprobSums[i] / counts[i]));
            }
            for (int k = 0; k < keep; k++) {
                int i = order[k];
                ObjectNode c = choices.addObject().put("index", k);
                if (chat) {
                    ObjectNode message = c.putObject("message").put("role", "assistant").put("content", texts[i].toString());
                    if (tools.reads()) {
                        var parsed = io.boundless.router.tools.ToolCalls.parse(tools.format(family), texts[i].toString(), true, tools.named());
                        if (!parsed.calls().isEmpty()) {
                            String content = parsed.content().strip();
                            if (content.isEmpty()) {
                                message.putNull("content");
                            } else {
                                message.put("content", content);
                            }
                            List<String> ids = new ArrayList<>();
                            parsed.calls().forEach(x -> ids.add(ToolsApi.newId(family)));
                            ToolsApi.putCalls(message, parsed.calls(), ids);
                            reasons[i] = null;
                            finishToolCalls(c);
                        }
                    }
                    if (logprobs) {
                        chatLogprobs(c.putObject("logprobs").putArray("content"), tokens.get(i), tokenTexts.get(i));
                    } else {
                        c.putNull("logprobs");
                    }
                } else {
                    c.put("text", (echo == null ? "" : echo.text()) + texts[i]);
                    if (logprobs) {
                        ObjectNode lp = c.putObject("logprobs");
                        if (echo != null) {
                            echoLogprobs(lp);
                        }
                        completionLogprobs(lp, tokens.get(i), tokenTexts.get(i), echo == null ? 0 : echo.text().length());
                    } else {
                        c.putNull("logprobs");
                    }
                }
                if (!c.has("finish_reason")) {
                    finish(c, reasons[i]);
                }
            }
            if (usage != null) {
                body.set("usage", usage(usage));
            }
            send(response, 200, body);
        }
    }

    private static void finishToolCalls(ObjectNode choice) {
        choice.put("finish_reason", "tool_calls");
    }

    private static void finish(ObjectNode choice, FinishReason r) {
        if (r == null || r == FinishReason.FINISH_REASON_UNSPECIFIED) {
            choice.putNull("finish_reason");
        } else {
            choice.put("finish_reason", r == FinishReason.FINISH_REASON_LENGTH ? "length" : "stop");
        }
    }

    // ---- errors ----

    void send(HttpServerResponse response, int status, ObjectNode body) {
        if (response.closed() || response.ended()) {
            return;
        }
        response.setStatusCode(status).putHeader("Content-Type", "application/json").end(body.toString());
    }

    void error(HttpServerResponse response, StatusRuntimeException e) {
        if (response.closed() || response.ended()) {
            return;
        }
        if (response.headWritten()) {
            response.end();
            return;
        }
        String retry = e.getTrailers() == null ? null : e.getTrailers().get(Gateway.RETRY_AFTER);
        if (retry == null && e.getStatus().getCode() == Status.Code.UNAVAILABLE) {
            retry = "1";  // unavailable for now (a replica or service restarting): retrying is the right thing to do
        }
        if (retry != null) {
            response.putHeader("Retry-After", retry);
        }
        send(response, httpStatus(e.getStatus().getCode()), errorBody(e));
    }

    ObjectNode errorBody(StatusRuntimeException e) {
        String description = e.getStatus().getDescription() == null ? e.getStatus().getCode().toString() : e.getStatus().getDescription();
        String param = null;
        int at = description.lastIndexOf("\nparam=");
        if (at >= 0) {
            param = description.substring(at + 7);
            description = description.substring(0, at);
        }
        if (description.endsWith("\n")) {
            description = description.substring(0, description.length() - 1);
        }
        ObjectNode body = json.createObjectNode();
        ObjectNode err = body.putObject("error").put("message", description).put("type", errorType(e.getStatus().getCode()));
        if (param == null || param.isEmpty()) {
            err.putNull("param");
        } else {
            err.put("param", param);
        }
        String code = switch (e.getStatus().getCode()) {
            case NOT_FOUND -> "model_not_found";
            case UNAUTHENTICATED -> "invalid_api_key";
            case RESOURCE_EXHAUSTED -> "rate_limit_exceeded";
            default -> null;
        };
        if (code == null) {
            err.putNull("code");
        } else {
            err.put("code", code);
        }
        return body;
    }

    static int httpStatus(Status.Code code) {
        return switch (code) {
            case INVALID_ARGUMENT, OUT_OF_RANGE, FAILED_PRECONDITION -> 400;
            case UNAUTHENTICATED -> 401;
            case PERMISSION_DENIED -> 403;
            case NOT_FOUND -> 404;
            case RESOURCE_EXHAUSTED -> 429;
            case CANCELLED -> 499;
            case UNAVAILABLE -> 503;
            case DEADLINE_EXCEEDED -> 504;
            default -> 500;
        };
    }

    private static String errorType(Status.Code code) {
        return switch (code) {
            case INVALID_ARGUMENT, OUT_OF_RANGE, FAILED_PRECONDITION, NOT_FOUND -> "invalid_request_error";
            case UNAUTHENTICATED -> "authentication_error";
            case PERMISSION_DENIED -> "permission_error";
            case RESOURCE_EXHAUSTED -> "rate_limit_error";
            case UNAVAILABLE, DEADLINE_EXCEEDED -> "service_unavailable";
            default -> "server_error";
        };
    }
}
