package io.boundless.router.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.IntFunction;

/**
 * Tool calls in a model's output, in the formats of the major model families, found in a whole output or
 * in a growing prefix of one (streaming): the content before the calls, and each call's name and arguments
 * (JSON text) as far as they have been written.
 *
 * <p>Formats (what the text looks like once special tokens are skipped):
 * <ul>
 *   <li>{@code hermes} (Hermes 2/3, Qwen 2.5/3, QwQ): {@code <tool_call>{"name": .., "arguments": {..}}</tool_call>}, repeated;
 *   <li>{@code llama3_json} (Llama 3.1-3.3): the output is {@code {"name": .., "parameters": {..}}}, several joined by {@code ;};
 *   <li>{@code mistral}: a JSON array of {@code {"name", "arguments"}} after {@code [TOOL_CALLS]}, or v11's
 *       {@code name{..args..}} ({@code [TOOL_CALLS]name[ARGS]{..}} with its control tokens skipped);
 *   <li>{@code granite}: a JSON array of {@code {"name", "arguments"}} after {@code <|tool_call|>};
 *   <li>{@code functionary} (v3.1): {@code <function=name>{..}</function>}, repeated;
 *   <li>{@code json}: what {@code tool_choice: "required"} constrains the output to, a JSON array of calls (or one call);
 *   <li>{@code arguments}: what a named {@code tool_choice} constrains it to, the arguments object of that one tool.
 * </ul>
 */
public final class ToolCalls {
    private static final ObjectMapper JSON = new ObjectMapper();

    public enum Format {
        HERMES, LLAMA3_JSON, MISTRAL, GRANITE, FUNCTIONARY, JSON, ARGUMENTS;

        public String wire() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** A format by its configuration name; null when unknown. */
        public static Format of(String name) {
            for (Format f : values()) {
                if (f.wire().equals(name)) {
                    return f;
                }
            }
            return null;
        }

        /** The formats a client or operator may name (json and arguments are the constrained forms). */
        public static List<String> names() {
            return List.of(HERMES.wire(), LLAMA3_JSON.wire(), MISTRAL.wire(), GRANITE.wire(), FUNCTIONARY.wire());
        }
    }

    private static final List<java.util.Map.Entry<String, String>> MARKERS = List.of(java.util.Map.entry("<tool_call>", "hermes"),
            java.util.Map.entry("[TOOL_CALLS]", "mistral"), java.util.Map.entry("<|tool_call|>", "granite"),
            java.util.Map.entry("<function=", "functionary"), java.util.Map.entry("<|python_tag|>", "llama3_json"));

    /** The family a chat template writes tool calls in, by the marker it renders; "" when none (a request's own template). */
    public static String familyOf(String template) {
        for (var m : MARKERS) {
            if (template.contains(m.getKey())) {
                return m.getValue();
            }
        }
        return "";
    }

    /** A call as far as it is written: its name (null until known), its arguments' JSON text so far, and whether it is whole. */
    public record Call(String name, String arguments, boolean complete) {}

    /** What a text holds: content (for a prefix, only what can no longer turn out to start a call) and the calls. */
    public record Parsed(String content, List<Call> calls) {}

    private ToolCalls() {}

    /**
     * Parses a whole output ({@code complete}) or a prefix of one. For the arguments format, {@code name} is the tool's.
     * A whole output whose calls do not parse is content only.
     */
    public static Parsed parse(Format f, String text, boolean complete, String name) {
        Parsed p = switch (f) {
            case HERMES -> tagged(text, complete, "<tool_call>", "</tool_call>", null);
            case FUNCTIONARY -> tagged(text, complete, "<function=", "</function>", ">");
            case LLAMA3_JSON -> leading(text, complete, '{', ";");
            case GRANITE, JSON -> leading(text, complete, '[', null);
            case MISTRAL -> mistral(text, complete);
            case ARGUMENTS -> {
                String t = text.strip();
                yield new Parsed("", List.of(new Call(name, t, complete)));
            }
        };
        if (complete && p.calls().stream().anyMatch(c -> !c.complete() || c.name() == null || !isObject(c.arguments()))) {
            return new Parsed(text, List.of());  // not a well-formed call after all: the model's text, as it is
        }
        return p;
    }

    private static boolean isObject(String json) {
        try {
            JsonNode n = JSON.readTree(json);
            return n != null && n.isObject();
        } catch (Exception e) {
            return false;
        }
    }

    // ---- formats ------------------------------------------------------------------------------

    /** open{...}close repeated (hermes), or open NAME nameEnd {...} close (functionary). */
    private static Parsed tagged(String text, boolean complete, String open, String close, String nameEnd) {
        int at = text.indexOf(open);
        if (at < 0) {
            return new Parsed(complete ? text : withoutMarkerPrefix(text, open), List.of());
        }
        String content = text.substring(0, at);
        List<Call> calls = new ArrayList<>();
        int i = at;
        while (i < text.length() && text.startsWith(open, i)) {
            i += open.length();
            String name = null;
            if (nameEnd != null) {
                int e = text.indexOf(nameEnd, i);
                if (e < 0) {
                    break;
                }
                name = text.substring(i, e).strip();
                i = e + nameEnd.length();
            }
            i = skipSpace(text, i);
            if (i >= text.length()) {
                if (name != null) {
                    calls.add(new Call(name, "", false));
                }
                break;
            }
            if (text.charAt(i) != '{') {
                return new Parsed(complete ? text : content, List.of());
            }
            Obj o = scanObject(text, i);
            Call c = nameEnd != null ? new Call(name, o.raw(text, i), o.end >= 0) : o.call(text);
            calls.add(c);
            if (o.end < 0) {
                break;
            }
            i = skipSpace(text, o.end);
            if (text.startsWith(close, i)) {
                i = skipSpace(text, i + close.length());
            } else if (i < text.length() && !close.startsWith(text.substring(i, Math.min(text.length(), i + close.length())))) {
                break;
            } else if (i >= text.length() || close.startsWith(text.substring(i))) {
                if (complete) {
                    i = text.length(); // a missing closing tag at the very end: the call is whole
                }
                break;
            }
        }
        return new Parsed(content, calls);
    }

    /** The output itself starts with '{' (objects joined by sep) or '[' (an array of objects). */
    private static Parsed leading(String text, boolean complete, char first, String sep) {
        int i = skipSpace(text, 0);
        if (i >= text.length()) {
            return new Parsed(complete ? text : "", List.of());
        }
        char c = text.charAt(i);
        if (c != first && !(first == '[' && c == '{')) {
            return new Parsed(text, List.of());
        }
        List<Call> calls = new ArrayList<>();
        boolean array = c == '[';
        if (array) {
            i = skipSpace(text, i + 1);
        }
        String between = array ? "," : sep;
        while (i < text.length() && text.charAt(i) == '{') {
            Obj o = scanObject(text, i);
            calls.add(o.call(text));
            if (o.end < 0) {
                break;
            }
            i = skipSpace(text, o.end);
            if (between != null && text.startsWith(between, i)) {
                i = skipSpace(text, i + between.length());
            } else {
                break;
            }
        }
        return new Parsed("", calls);
    }

    /** [TOOL_CALLS] (if the text kept it) then a JSON array, or v11's name{args} calls. */
    private static Parsed mistral(String text, boolean complete) {
        String t = text;
        int marker = t.indexOf("[TOOL_CALLS]");
        String content = "";
        if (marker >= 0) {
            content = t.substring(0, marker);
            t = t.substring(marker + "[TOOL_CALLS]".length());
        }
        int i = skipSpace(t, 0);
        if (i < t.length() && t.charAt(i) == '[') {
            Parsed p = leading(t, complete, '[', null);
            return new Parsed(content, p.calls());
        }
        // v11: name[ARGS]{...} (or name{...} with the control tokens skipped), repeated
        List<Call> calls = new ArrayList<>();
        while (i < t.length()) {
            int j = i;
            while (j < t.length() && (Character.isLetterOrDigit(t.charAt(j)) || "_-.".indexOf(t.charAt(j)) >= 0)) {
                j++;
            }
            if (j == i) {
                break;
            }
            String name = t.substring(i, j);
            int k = t.startsWith("[ARGS]", j) ? j + "[ARGS]".length() : j;
            if (k >= t.length()) {
                if (!complete && calls.isEmpty() && marker < 0) {
                    return new Parsed("", List.of());  // could still become a call
                }
                if (complete) {
                    calls.add(new Call(name, "", false));
                }
                break; // while streaming, the name may not be whole yet
            }
            if (t.charAt(k) != '{') {
                if (calls.isEmpty() && marker < 0) {
                    return new Parsed(text, List.of());
                }
                break;
            }
            Obj o = scanObject(t, k);
            calls.add(new Call(name, o.raw(t, k), o.end >= 0));
            if (o.end < 0) {
                break;
            }
            i = skipSpace(t, o.end);
            if (t.startsWith("[TOOL_CALLS]", i)) {
                i = skipSpace(t, i + "[TOOL_CALLS]".length());
            }
        }
        if (calls.isEmpty() && marker < 0) {
            return new Parsed(complete ? text : (skipSpace(text, 0) >= text.length() ? "" : text), List.of());
        }
        return new Parsed(content, calls);
    }

    /** The text without a suffix that could be the start of the marker (held back while streaming). */
    static String withoutMarkerPrefix(String text, String marker) {
        for (int k = Math.min(marker.length() - 1, text.length()); k > 0; k--) {
            if (text.endsWith(marker.substring(0, k))) {
                return text.substring(0, text.length() - k);
            }
        }
        return text;
    }

    private static int skipSpace(String t, int i) {
        while (i < t.length() && Character.isWhitespace(t.charAt(i))) {
            i++;
        }
        return i;
    }

    // ---- a JSON object, scanned as far as it goes ------------------------------------------------

    /** An object from '{': its top-level members' value spans (end -1 while open) and its end (-1 while open). */
    private static final class Obj {
        final List<String> keys = new ArrayList<>();
        final List<int[]> spans = new ArrayList<>();
        int end = -1;

        String raw(String t, int start) {
            return t.substring(start, end < 0 ? t.length() : end);
        }

        /** As {"name": .., "arguments" or "parameters": {..}}. */
        Call call(String t) {
            String name = null;
            String args = "";
            boolean argsDone = false;
            for (int k = 0; k < Math.min(keys.size(), spans.size()); k++) { // a key whose value has not begun has no span yet
                int[] s = spans.get(k);
                String key = keys.get(k);
                if (key.equals("name") && s[1] >= 0) {
                    try {
                        JsonNode n = JSON.readTree(t.substring(s[0], s[1]));
                        name = n.isTextual() ? n.asText() : null;
                    } catch (Exception e) {
                        name = null;
                    }
                } else if (key.equals("arguments") || key.equals("parameters")) {
                    String v = t.substring(s[0], s[1] < 0 ? t.length() : s[1]);
                    argsDone = s[1] >= 0;
                    if (argsDone && v.startsWith("\"")) { // arguments given as a JSON string holding JSON
                        try {
                            v = JSON.readTree(v).asText();
                        } catch (Exception e) {
                            // left as it is; the whole output then fails the object check
                        }
                    } else if (v.startsWith("\"")) {
                        v = "";
                    }
                    args = v;
                }
            }
            return new Call(name, args, end >= 0 && argsDone);
        }
    }

    private static Obj scanObject(String t, int start) {
        Obj o = new Obj();
        int depth = 0;
        boolean inString = false;
        boolean escape = false;
        // top level: 0 expecting a key, 1 in a key, 2 expecting ':', 3 expecting a value, 4 in a value
        int phase = 0;
        int keyStart = -1;
        int[] span = null;
        for (int i = start; i < t.length(); i++) {
            char c = t.charAt(i);
            if (inString) {
                if (escape) {
                    escape = false;
                } else if (c == '\\') {
                    escape = true;
                } else if (c == '"') {
                    inString = false;
                    if (depth == 1 && phase == 1) {
                        o.keys.add(decodeKey(t.substring(keyStart, i + 1)));
                        phase = 2;
                    }
                }
                continue;
            }
            if (depth == 1 && phase == 3 && !Character.isWhitespace(c)) {
                span = new int[] {i, -1};
                o.spans.add(span);
                phase = 4;
            }
            switch (c) {
                case '"' -> {
                    inString = true;
                    if (depth == 1 && phase == 0) {
                        keyStart = i;
                        phase = 1;
                    }
                }
                case '{', '[' -> depth++;
                case '}', ']' -> {
                    if (depth == 1 && phase == 4) {
                        span[1] = trimEnd(t, span[0], i);
                        phase = 0;
                    }
                    depth--;
                    if (depth == 0) {
                        o.end = i + 1;
                        return o;
                    }
                }
                case ':' -> {
                    if (depth == 1 && phase == 2) {
                        phase = 3;
                    }
                }
                case ',' -> {
                    if (depth == 1 && phase == 4) {
                        span[1] = trimEnd(t, span[0], i);
                        phase = 0;
                    }
                }
                default -> { }
            }
        }
        return o; // still open: the last value's span has no end yet
    }

    private static int trimEnd(String t, int from, int to) {
        while (to > from && Character.isWhitespace(t.charAt(to - 1))) {
            to--;
        }
        return to;
    }

    private static String decodeKey(String quoted) {
        try {
            return JSON.readTree(quoted).asText();
        } catch (Exception e) {
            return quoted;
        }
    }

    // ---- streaming ----------------------------------------------------------------------------

    /** What a stream step adds: content, or a call's header (index, id, name) and argument fragments. */
    public record Delta(String content, int index, String id, String name, String arguments) {
        public boolean isContent() {
            return content != null;
        }
    }

    /** Turns growing text into OpenAI's deltas: content as it is certain, then per call its id and name once, then argument fragments. */
    public static final class Stream {
        private final Format format;
        private final String name;
        private final IntFunction<String> ids;
        private final StringBuilder text = new StringBuilder();
        private int contentSent;
        private final List<Integer> argsSent = new ArrayList<>();
        private final List<String> callIds = new ArrayList<>();
        private List<Call> finalCalls = List.of();

        /** @param ids a new call id for the call at an index */
        public Stream(Format format, String name, IntFunction<String> ids) {
            this.format = format;
            this.name = name;
            this.ids = ids;
        }

        public List<Delta> feed(String delta) {
            text.append(delta);
            return diff(parse(format, text.toString(), false, name), false);
        }

        /** The rest, once the output has ended. */
        public List<Delta> finish() {
            Parsed p = parse(format, text.toString(), true, name);
            finalCalls = p.calls();
            return diff(p, true);
        }

        /** The calls of the whole output (after {@link #finish}). */
        public List<Call> calls() {
            return finalCalls;
        }

        public String id(int index) {
            return callIds.get(index);
        }

        private List<Delta> diff(Parsed p, boolean last) {
            List<Delta> out = new ArrayList<>();
            String content = p.content();
            if (content.length() > contentSent && content.startsWith(text.substring(0, contentSent))) {
                out.add(new Delta(content.substring(contentSent), -1, null, null, null));
                contentSent = content.length();
            } else if (last && p.calls().isEmpty() && text.length() > contentSent) {
                // what looked like a call was not one: the rest is content
                out.add(new Delta(text.substring(contentSent), -1, null, null, null));
                contentSent = text.length();
            }
            for (int k = 0; k < p.calls().size(); k++) {
                Call c = p.calls().get(k);
                if (c.name() == null) {
                    break;
                }
                if (k == callIds.size()) {
                    callIds.add(ids.apply(k));
                    argsSent.add(0);
                    out.add(new Delta(null, k, callIds.get(k), c.name(), ""));
                }
                String args = c.complete() ? c.arguments() : c.arguments().stripTrailing(); // blanks wait: they may end the value
                int sent = argsSent.get(k);
                if (args.length() > sent && (c.complete() || !args.startsWith("\""))) {
                    out.add(new Delta(null, k, null, null, args.substring(sent)));
                    argsSent.set(k, args.length());
                }
            }
            return out;
        }
    }
}
