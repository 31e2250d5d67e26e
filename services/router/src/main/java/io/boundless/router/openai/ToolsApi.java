package io.boundless.router.openai;

import static io.boundless.router.openai.OpenAiRoutes.invalid;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.boundless.proto.router.v1.ChatMessage;
import io.boundless.proto.router.v1.Constraint;
import io.boundless.proto.router.v1.Tool;
import io.boundless.proto.router.v1.ToolCall;
import io.boundless.router.tools.ToolCalls;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;

/**
 * OpenAI's tool calling on chat completions: {@code tools}, {@code tool_choice} (none, auto, required, or one named
 * function), {@code parallel_tool_calls}, assistant messages with {@code tool_calls} and {@code role: "tool"} answers
 * going in; {@code message.tool_calls} and {@code finish_reason: "tool_calls"} (or {@code delta.tool_calls}) coming out.
 * With {@code required} the output is constrained to a JSON array of calls of the given tools (one call without
 * parallel_tool_calls) and with a named function to that function's arguments, each against the tool's parameter
 * schema, so those always parse; with {@code auto} the model's own output is read in its family's format.
 */
final class ToolsApi {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final String ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    enum Mode { NONE, AUTO, REQUIRED, NAMED }

    /** A request's tools and what it lets the model do with them. */
    record Request(List<Tool> tools, Mode mode, String named, boolean parallel) {
        /** Whether the output is read for calls. */
        boolean reads() {
            return mode != Mode.NONE && !tools.isEmpty();
        }

        /** The format the output is read in: the constrained forms, or the model family's. */
        ToolCalls.Format format(String family) {
            return switch (mode) {
                case REQUIRED -> ToolCalls.Format.JSON;
                case NAMED -> ToolCalls.Format.ARGUMENTS;
                default -> {
                    ToolCalls.Format f = ToolCalls.Format.of(family);
                    yield f == null ? ToolCalls.Format.HERMES : f;
                }
            };
        }
    }

    static final Request NO_TOOLS = new Request(List.of(), Mode.NONE, null, true);

    static Request request(JsonNode b) {
        if (b.hasNonNull("functions") || b.hasNonNull("function_call")) {
            throw invalid("functions and function_call are deprecated: use tools and tool_choice", b.hasNonNull("functions") ? "functions" : "function_call");
        }
        JsonNode t = b.get("tools");
        List<Tool> tools = new ArrayList<>();
        if (t != null && !t.isNull()) {
            if (!t.isArray()) {
                throw invalid("tools must be an array of {type: \"function\", function: {name, description, parameters}}", "tools");
            }
            if (t.size() > 128) {
                throw invalid("at most 128 tools, not " + t.size(), "tools");
            }
            for (JsonNode x : t) {
                if (!"function".equals(x.path("type").asText())) {
                    throw invalid("tools[].type must be \"function\"", "tools");
                }
                JsonNode fn = x.get("function");
                if (fn == null || !fn.isObject()) {
                    throw invalid("tools[].function must be an object with a name", "tools");
                }
                String name = fn.path("name").asText("");
                if (!name.matches("[A-Za-z0-9_-]{1,64}")) {
                    throw invalid("a tool's name must be 1 to 64 letters, digits, '_' or '-', not '" + name + "'", "tools");
                }
                if (tools.stream().anyMatch(o -> o.getName().equals(name))) {
                    throw invalid("two tools are named '" + name + "'", "tools");
                }
                JsonNode params = fn.get("parameters");
                if (params != null && !params.isNull() && !params.isObject()) {
                    throw invalid("tool '" + name + "': parameters must be a JSON Schema object", "tools");
                }
                tools.add(Tool.newBuilder().setName(name).setDescription(fn.path("description").asText(""))
                        .setParameters(params == null || params.isNull() ? "{\"type\": \"object\", \"properties\": {}}" : params.toString()).build());
            }
        }
        boolean parallel = !b.hasNonNull("parallel_tool_calls") || b.get("parallel_tool_calls").asBoolean(true);
        JsonNode c = b.get("tool_choice");
        Mode mode = tools.isEmpty() ? Mode.NONE : Mode.AUTO;
        String named = null;
        if (c != null && !c.isNull()) {
            if (c.isTextual()) {
                mode = switch (c.asText()) {
                    case "none" -> Mode.NONE;
                    case "auto" -> Mode.AUTO;
                    case "required" -> Mode.REQUIRED;
                    default -> throw invalid("tool_choice must be none, auto, required or {type: \"function\", function: {name}}", "tool_choice");
                };
            } else if (c.isObject() && "function".equals(c.path("type").asText())) {
                named = c.path("function").path("name").asText("");
                mode = Mode.NAMED;
                String n = named;
                if (tools.stream().noneMatch(x -> x.getName().equals(n))) {
                    throw invalid("tool_choice names '" + named + "', which is not among the tools", "tool_choice");
                }
            } else {
                throw invalid("tool_choice must be none, auto, required or {type: \"function\", function: {name}}", "tool_choice");
            }
            if ((mode == Mode.REQUIRED || mode == Mode.AUTO) && tools.isEmpty()) {
                throw invalid("tool_choice " + c.asText() + " needs tools", "tool_choice");
            }
        }
        return new Request(tools, mode, named, parallel);
    }

    /** The constraint that makes a required or named call parse: JSON against the tools' parameter schemas. Null otherwise. */
    static Constraint constraint(Request r) {
        try {
            if (r.mode() == Mode.NAMED) {
                Tool t = r.tools().stream().filter(x -> x.getName().equals(r.named())).findFirst().orElseThrow();
                return Constraint.newBuilder().setJsonSchema(t.getParameters()).build();
            }
            if (r.mode() != Mode.REQUIRED) {
                return null;
            }
            ArrayNode anyOf = JSON.createArrayNode();
            for (Tool t : r.tools()) {
                ObjectNode call = anyOf.addObject().put("type", "object");
                ObjectNode props = call.putObject("properties");
                props.putObject("name").put("const", t.getName());
                props.set("arguments", JSON.readTree(t.getParameters()));
                call.putArray("required").add("name").add("arguments");
                call.put("additionalProperties", false);
            }
            ObjectNode one = JSON.createObjectNode();
            one.set("anyOf", anyOf);
            ObjectNode schema = one;
            if (r.parallel()) {
                schema = JSON.createObjectNode().put("type", "array").put("minItems", 1);
                schema.set("items", one);
            }
            return Constraint.newBuilder().setJsonSchema(schema.toString()).build();
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw invalid("a tool's parameters are not JSON: " + e.getOriginalMessage(), "tools");
        }
    }

    /** One message of a chat body, with an assistant's tool calls and a tool's answer. */
    static ChatMessage message(JsonNode x, String content) {
        String role = x.path("role").asText("");
        ChatMessage.Builder m = ChatMessage.newBuilder().setRole(role).setContent(content);
        if (x.hasNonNull("name")) {
            m.setName(x.get("name").asText());
        }
        if (x.hasNonNull("reasoning_content") && x.get("reasoning_content").isTextual()) {
            m.setReasoningContent(x.get("reasoning_content").asText());
        }
        JsonNode calls = x.get("tool_calls");
        if (calls != null && !calls.isNull()) {
            if (!role.equals("assistant") || !calls.isArray()) {
                throw invalid("tool_calls belong to assistant messages, as an array", "messages");
            }
            for (JsonNode c : calls) {
                JsonNode fn = c.path("function");
                String args = fn.path("arguments").isTextual() ? fn.path("arguments").asText() : fn.path("arguments").toString();
                try {
                    JsonNode parsed = JSON.readTree(args.isBlank() ? "{}" : args);
                    if (parsed == null || !parsed.isObject()) {
                        throw invalid("a tool call's arguments must be a JSON object (as a string)", "messages");
                    }
                } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                    throw invalid("a tool call's arguments are not JSON: " + e.getOriginalMessage(), "messages");
                }
                if (fn.path("name").asText("").isEmpty()) {
                    throw invalid("a tool call needs function.name", "messages");
                }
                m.addToolCalls(ToolCall.newBuilder().setId(c.path("id").asText("")).setName(fn.path("name").asText()).setArguments(args));
            }
        }
        if (role.equals("tool")) {
            m.setToolCallId(x.path("tool_call_id").asText(""));
        }
        return m.build();
    }

    /** A fresh call id: OpenAI's call_ form, or 9 letters and digits where the format is Mistral's (its templates demand it). */
    static String newId(String family) {
        boolean mistral = "mistral".equals(family);
        StringBuilder sb = new StringBuilder(mistral ? "" : "call_");
        for (int i = 0; i < (mistral ? 9 : 24); i++) {
            sb.append(ALNUM.charAt(RANDOM.nextInt(ALNUM.length())));
        }
        return sb.toString();
    }

    /** message.tool_calls of a whole answer. */
    static void putCalls(ObjectNode message, List<ToolCalls.Call> calls, List<String> ids) {
        ArrayNode out = message.putArray("tool_calls");
        for (int k = 0; k < calls.size(); k++) {
            ObjectNode c = out.addObject().put("id", ids.get(k)).put("type", "function");
            c.putObject("function").put("name", calls.get(k).name()).put("arguments", calls.get(k).arguments());
        }
    }

    /** delta.tool_calls for one stream delta. */
    static void putDelta(ObjectNode delta, ToolCalls.Delta d) {
        ObjectNode c = delta.putArray("tool_calls").addObject().put("index", d.index());
        if (d.id() != null) {
            c.put("id", d.id()).put("type", "function");
        }
        ObjectNode fn = c.putObject("function");
        if (d.name() != null) {
            fn.put("name", d.name());
        }
        fn.put("arguments", d.arguments());
    }

    private ToolsApi() {}
}
