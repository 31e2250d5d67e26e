package io.boundless.tokenizer.template;

import java.util.List;
import java.util.Map;

/**
 * A compiled chat template. It renders Jinja the way Hugging Face's {@code apply_chat_template}
 * does: Python value semantics, {@code trim_blocks} and {@code lstrip_blocks}, loop controls, and
 * the globals {@code raise_exception}, {@code namespace} and {@code strftime_now}.
 *
 * <p>Why our own engine: Jinjava 2.8.2 fails the real Qwen 3 template (no {@code [::-1]} slices,
 * no keyword arguments to {@code namespace}, no {@code str.lstrip/rstrip}, and it ignores the
 * {@code -} whitespace modifiers), and chat templates use a small, well-defined subset of Jinja.
 * Parity with transformers' renderer is tested on the real templates of llama.cpp's {@code models/templates}
 * (ChatTemplateParityTest, goldens from transformers itself) and on snippets against {@code @huggingface/jinja}.
 */
public final class ChatTemplate {
    private final List<Node.Stmt> program;
    private final String toolCallFormat;

    private ChatTemplate(List<Node.Stmt> program, String toolCallFormat) {
        this.program = program;
        this.toolCallFormat = toolCallFormat;
    }

    /**
     * The tool-call format the template writes calls in, as the router's parsers name them ("hermes",
     * "llama3_json", "mistral", "granite", "functionary"), or "" when it renders none we recognize.
     */
    public String toolCallFormat() {
        return toolCallFormat;
    }

    static String detectToolCallFormat(String source) {
        if (source.contains("<tool_call>")) {
            return "hermes";
        }
        if (source.contains("[TOOL_CALLS]")) {
            return "mistral";
        }
        if (source.contains("<|tool_call|>")) {
            return "granite";
        }
        if (source.contains("<function=")) {
            return "functionary";
        }
        if (source.contains("<|python_tag|>") || source.contains("ipython") && source.contains("\"parameters\"")) {
            return "llama3_json";
        }
        return "";
    }

    /** Parses a template; a syntax error is a {@link TemplateException} naming the line. */
    public static ChatTemplate compile(String source) {
        try {
            return new ChatTemplate(Parser.parse(source), detectToolCallFormat(source));
        } catch (TemplateException e) {
            throw e;
        } catch (RuntimeException | StackOverflowError e) {
            // A parser bug must still reach the client as a template error, not an internal one.
            throw new TemplateException("template syntax error: " + e);
        }
    }

    /**
     * Renders with the given variables. Values must be null, Boolean, Long/Integer, Double, String,
     * List or Map (with String keys) — see {@link #normalize}.
     */
    public String render(Map<String, Object> variables) {
        @SuppressWarnings("unchecked")
        Map<String, Object> context = (Map<String, Object>) normalize(variables);
        try {
            return Interpreter.render(program, context);
        } catch (StackOverflowError e) {
            throw new TemplateException("the template recursed too deeply");
        } catch (TemplateException e) {
            throw e;
        } catch (ClassCastException | IndexOutOfBoundsException | NullPointerException
                | UnsupportedOperationException | IllegalArgumentException | ArithmeticException e) {
            throw new TemplateException("template error: " + e);
        }
    }

    /** Converts Java values to template values: Integer to Long, Float to Double, maps keep order. */
    public static Object normalize(Object v) {
        return switch (v) {
            case null -> null;
            case Integer i -> (long) i;
            case Short s -> (long) s;
            case Float f -> (double) f;
            case Map<?, ?> m -> {
                Map<String, Object> out = new java.util.LinkedHashMap<>();
                m.forEach((k, x) -> out.put(String.valueOf(k), normalize(x)));
                yield out;
            }
            case List<?> l -> {
                List<Object> out = new java.util.ArrayList<>();
                l.forEach(x -> out.add(normalize(x)));
                yield out;
            }
            default -> v;
        };
    }
}
