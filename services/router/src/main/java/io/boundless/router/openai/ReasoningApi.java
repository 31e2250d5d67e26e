package io.boundless.router.openai;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.boundless.proto.router.v1.AnswerParser;
import io.boundless.proto.router.v1.AnswerParserKind;
import io.boundless.proto.router.v1.ChatMessage;
import io.boundless.proto.router.v1.EarlyStopping;
import io.boundless.proto.router.v1.Exemplar;
import io.boundless.proto.router.v1.FinishReason;
import io.boundless.proto.router.v1.ReasonRequest;
import io.boundless.proto.router.v1.ReasonResult;
import io.boundless.proto.router.v1.ReasoningPath;
import io.boundless.proto.router.v1.ReasoningStage;
import io.boundless.proto.router.v1.ReasoningStrategy;
import io.boundless.proto.router.v1.Sampling;
import io.boundless.proto.router.v1.SubanswerContext;
import io.boundless.proto.router.v1.Usage;
import io.boundless.proto.router.v1.VoteCount;
import io.boundless.proto.router.v1.VoteRule;
import io.boundless.router.reasoning.ReasoningSink;
import io.grpc.StatusRuntimeException;
import io.vertx.core.http.HttpServerResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Chat completions with the {@code boundless_reasoning} extension field: the request's last message (a user's)
 * is the question, the messages before it the context; the answer comes back in {@code message.content}, the
 * vote, paths and stages in a {@code boundless_reasoning} object beside {@code choices}. Clients that do not
 * send the field never see it.
 */
final class ReasoningApi {
    static final String FIELD = "boundless_reasoning";

    private ReasoningApi() {}

    /** The Reason request a chat completion body with the extension asks for (INVALID_ARGUMENT with param for bad fields). */
    static ReasonRequest request(JsonNode body, String model, List<ChatMessage> messages, Sampling sampling) {
        JsonNode x = body.get(FIELD);
        if (!x.isObject()) {
            throw OpenAiRoutes.invalid(FIELD + " must be an object, such as {\"strategy\": \"self_consistency\", \"n\": 10}", FIELD);
        }
        if (body.hasNonNull("n") && body.get("n").asInt(1) != 1) {
            throw OpenAiRoutes.invalid("with " + FIELD + ", n is the reasoning's own (" + FIELD + ".n): leave the request's n at 1", "n");
        }
        if (messages.isEmpty() || !messages.getLast().getRole().equals("user")) {
            throw OpenAiRoutes.invalid("with " + FIELD + ", the last message is the user's question", "messages");
        }
        ReasonRequest.Builder r = ReasonRequest.newBuilder().setModel(model).setQuestion(messages.getLast().getContent())
                .addAllContext(messages.subList(0, messages.size() - 1)).setSampling(sampling);
        String strategy = text(x, "strategy", "zero_shot_cot");
        try {
            r.setStrategy(ReasoningStrategy.valueOf("REASONING_STRATEGY_" + strategy.toUpperCase(Locale.ROOT)));
        } catch (IllegalArgumentException e) {
            throw OpenAiRoutes.invalid(FIELD + ".strategy is direct, zero_shot_cot, few_shot_cot, self_consistency or least_to_most, not '" + strategy + "'",
                    FIELD + ".strategy");
        }
        if (x.hasNonNull("n")) {
            r.setN(integer(x, "n"));
        }
        JsonNode p = x.get("parser");
        if (p != null && !p.isNull()) {
            JsonNode kindNode = p.isTextual() ? p : p.path("kind");
            String kind = kindNode.asText("");
            AnswerParserKind k;
            try {
                k = AnswerParserKind.valueOf("ANSWER_PARSER_KIND_" + kind.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw OpenAiRoutes.invalid(FIELD + ".parser is number, choice, yes_no or regex (or an object with kind, pattern, choices), not '" + kind + "'",
                        FIELD + ".parser");
            }
            r.setParser(AnswerParser.newBuilder().setKind(k).setPattern(p.path("pattern").asText("")).setChoices(p.path("choices").asText("")));
        }
        if (x.hasNonNull("vote")) {
            r.setVote(switch (text(x, "vote", "")) {
                case "majority" -> VoteRule.VOTE_RULE_MAJORITY;
                case "weighted" -> VoteRule.VOTE_RULE_WEIGHTED;
                default -> throw OpenAiRoutes.invalid(FIELD + ".vote is majority or weighted", FIELD + ".vote");
            });
        }
        JsonNode es = x.get("early_stopping");
        if (es != null && !es.isNull()) {
            if (!es.isObject()) {
                throw OpenAiRoutes.invalid(FIELD + ".early_stopping is an object: {when_decided, confidence, min_samples}", FIELD + ".early_stopping");
            }
            r.setEarlyStopping(EarlyStopping.newBuilder().setWhenDecided(es.path("when_decided").asBoolean(false))
                    .setConfidence((float) es.path("confidence").asDouble(0)).setMinSamples(es.path("min_samples").asInt(0)));
        }
        if (x.hasNonNull("parallel")) {
            r.setParallel(integer(x, "parallel"));
        }
        r.setExemplarSet(text(x, "exemplar_set", ""));
        for (JsonNode e : x.path("exemplars")) {
            Exemplar.Builder b = Exemplar.newBuilder().setQuestion(e.path("question").asText("")).setRationale(e.path("rationale").asText(""));
            e.path("subquestions").forEach(q -> b.addSubquestions(q.asText()));
            r.addExemplars(b);
        }
        r.setTrigger(text(x, "trigger", "")).setAnswerPrompt(text(x, "answer_prompt", ""));
        if (x.hasNonNull("no_trigger")) {
            if (!x.get("no_trigger").isBoolean()) {
                throw OpenAiRoutes.invalid(FIELD + ".no_trigger must be true or false", FIELD + ".no_trigger");
            }
            r.setNoTrigger(x.get("no_trigger").asBoolean());
        }
        x.path("subquestions").forEach(q -> r.addSubquestions(q.asText()));
        String context = text(x, "subanswer_context", "transcript");
        r.setSubanswerContext(switch (context) {
            case "transcript" -> SubanswerContext.SUBANSWER_CONTEXT_TRANSCRIPT;
            case "placeholders" -> SubanswerContext.SUBANSWER_CONTEXT_PLACEHOLDERS;
            default -> throw OpenAiRoutes.invalid(FIELD + ".subanswer_context is transcript or placeholders", FIELD + ".subanswer_context");
        });
        if (x.hasNonNull("max_total_tokens")) {
            r.setMaxTotalTokens(integer(x, "max_total_tokens"));
        }
        return r.build();
    }

    private static String text(JsonNode x, String key, String otherwise) {
        JsonNode v = x.get(key);
        if (v == null || v.isNull()) {
            return otherwise;
        }
        if (!v.isTextual()) {
            throw OpenAiRoutes.invalid(FIELD + "." + key + " must be a string", FIELD + "." + key);
        }
        return v.asText();
    }

    private static int integer(JsonNode x, String key) {
        JsonNode v = x.get(key);
        if (!v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() < 0) {
            throw OpenAiRoutes.invalid(FIELD + "." + key + " must be a non-negative integer", FIELD + "." + key);
        }
        return v.asInt();
    }

    // ---- JSON of the results

    static ObjectNode path(ObjectMapper json, ReasoningPath p) {
        return json.createObjectNode().put("index", p.getIndex()).put("stage", p.getStage()).put("text", p.getText())
                .put("answer", p.getAnswer().isEmpty() ? null : p.getAnswer()).put("weight", p.getWeight()).put("tokens", p.getTokens())
                .put("finish_reason", finish(p.getFinishReason()));
    }

    static ObjectNode stage(ObjectMapper json, ReasoningStage s) {
        return json.createObjectNode().put("index", s.getIndex()).put("kind", s.getKind()).put("question", s.getQuestion()).put("text", s.getText())
                .put("answer", s.getAnswer().isEmpty() ? null : s.getAnswer()).put("completion_tokens", s.getUsage().getCompletionTokens());
    }

    static ObjectNode result(ObjectMapper json, ReasonResult r, List<ReasoningStage> stages) {
        ObjectNode o = json.createObjectNode().put("strategy", r.getStrategy().name().replace("REASONING_STRATEGY_", "").toLowerCase(Locale.ROOT))
                .put("answer", r.getAnswer().isEmpty() ? null : r.getAnswer()).put("confidence", r.getConfidence());
        ArrayNode votes = o.putArray("votes");
        for (VoteCount v : r.getVotesList()) {
            votes.addObject().put("answer", v.getAnswer()).put("votes", v.getVotes()).put("weight", v.getWeight()).put("share", v.getShare());
        }
        o.put("samples_drawn", r.getSamplesDrawn()).put("samples_saved", r.getSamplesSaved())
                .put("stopped_because", r.getStoppedBecause().isEmpty() ? null : r.getStoppedBecause());
        ArrayNode paths = o.putArray("paths");
        r.getPathsList().forEach(p -> paths.add(path(json, p)));
        ArrayNode st = o.putArray("stages");
        stages.forEach(s -> st.add(stage(json, s)));
        if (r.getSubquestionsCount() > 0) {
            ArrayNode subs = o.putArray("subquestions");
            r.getSubquestionsList().forEach(subs::add);
            ArrayNode answers = o.putArray("subanswers");
            r.getSubanswersList().forEach(answers::add);
        }
        return o;
    }

    private static String finish(FinishReason f) {
        return switch (f) {
            case FINISH_REASON_LENGTH -> "length";
            case FINISH_REASON_STOP -> "stop";
            default -> null;
        };
    }

    static ObjectNode usage(ObjectMapper json, Usage u) {
        ObjectNode o = json.createObjectNode().put("prompt_tokens", u.getPromptTokens()).put("completion_tokens", u.getCompletionTokens())
                .put("total_tokens", u.getPromptTokens() + u.getCompletionTokens());
        o.putObject("prompt_tokens_details").put("cached_tokens", u.getCachedPromptTokens());
        return o;
    }

    /** The output of one reasoning chat completion, whole or as server-sent events. */
    static final class Output implements ReasoningSink {
        private final OpenAiRoutes routes;
        private final ObjectMapper json;
        private final HttpServerResponse response;
        private final String id;
        private final String model;
        private final long created;
        private final boolean stream;
        private final boolean includeUsage;
        private final List<ReasoningStage> stages = new ArrayList<>();

        Output(OpenAiRoutes routes, ObjectMapper json, HttpServerResponse response, String id, String model, long created, boolean stream, boolean includeUsage) {
            this.routes = routes;
            this.json = json;
            this.response = response;
            this.id = id;
            this.model = model;
            this.created = created;
            this.stream = stream;
            this.includeUsage = includeUsage;
        }

        private ObjectNode envelope(String object) {
            return json.createObjectNode().put("id", id).put("object", object).put("created", created).put("model", model);
        }

        private void event(ObjectNode e) {
            if (response.closed() || response.ended()) {
                return;
            }
            if (!response.headWritten()) {
                response.setChunked(true).putHeader("Content-Type", "text/event-stream").putHeader("Cache-Control", "no-cache");
            }
            response.write("data: " + e + "\n\n");
        }

        /** A chunk with no choices that carries one reasoning event. */
        private void progress(String kind, ObjectNode what) {
            ObjectNode e = envelope("chat.completion.chunk");
            e.putArray("choices");
            e.putObject(FIELD).set(kind, what);
            event(e);
        }

        @Override
        public void stage(ReasoningStage stage) {
            stages.add(stage);
            if (stream) {
                progress("stage", ReasoningApi.stage(json, stage));
            }
        }

        @Override
        public void path(ReasoningPath path) {
            if (stream) {
                progress("path", ReasoningApi.path(json, path));
            }
        }

        @Override
        public void result(ReasonResult r) {
            ObjectNode extension = ReasoningApi.result(json, r, stages);
            if (!stream) {
                ObjectNode body = envelope("chat.completion");
                ObjectNode c = body.putArray("choices").addObject().put("index", 0);
                c.putObject("message").put("role", "assistant").put("content", r.getAnswer());
                c.putNull("logprobs");
                c.put("finish_reason", "stop");
                body.set("usage", usage(json, r.getUsage()));
                body.set(FIELD, extension);
                routes.send(response, 200, body);
                return;
            }
            ObjectNode e = envelope("chat.completion.chunk");
            ObjectNode c = e.putArray("choices").addObject().put("index", 0);
            c.putObject("delta").put("role", "assistant").put("content", r.getAnswer());
            c.putNull("logprobs");
            c.putNull("finish_reason");
            event(e);
            ObjectNode end = envelope("chat.completion.chunk");
            ObjectNode ce = end.putArray("choices").addObject().put("index", 0);
            ce.putObject("delta");
            ce.putNull("logprobs");
            ce.put("finish_reason", "stop");
            end.set(FIELD, extension);
            event(end);
            if (includeUsage) {
                ObjectNode u = envelope("chat.completion.chunk");
                u.putArray("choices");
                u.set("usage", usage(json, r.getUsage()));
                event(u);
            }
            if (!response.closed() && !response.ended()) {
                response.end("data: [DONE]\n\n");
            }
        }

        @Override
        public void error(StatusRuntimeException error) {
            if (stream && response.headWritten()) {
                if (!response.closed() && !response.ended()) {
                    ObjectNode e = routes.errorBody(error);
                    response.write("data: " + e + "\n\n");
                    response.end("data: [DONE]\n\n");
                }
                return;
            }
            routes.error(response, error);
        }
    }
}
