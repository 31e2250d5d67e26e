package io.boundless.tokenizer.template;

import java.util.ArrayList;
import java.util.List;

/**
 * Splits template source into text and tag segments and applies Jinja's whitespace control the way
 * Hugging Face configures it for chat templates: {@code trim_blocks=True, lstrip_blocks=True}, plus
 * the explicit {@code -} and {@code +} modifiers on tags.
 */
final class Lexer {
    enum Kind { TEXT, EXPRESSION, STATEMENT }

    /** One segment. For tags, {@code body} is the inside of the delimiters without modifiers. */
    record Segment(Kind kind, String body, int line) {}

    private record RawTag(char type, int start, int end, String body, boolean stripLeft, boolean keepLeft,
            boolean stripRight, int line) {}

    static List<Segment> segments(String src) {
        List<RawTag> tags = new ArrayList<>();
        int i = 0;
        int line = 1;
        while (true) {
            int open = src.indexOf('{', i);
            while (open >= 0 && open + 1 < src.length() && "{%#".indexOf(src.charAt(open + 1)) < 0) {
                open = src.indexOf('{', open + 1);
            }
            if (open < 0 || open + 1 >= src.length()) {
                break;
            }
            line += count(src, i, open, '\n');
            char type = src.charAt(open + 1);
            int bodyStart = open + 2;
            boolean stripLeft = bodyStart < src.length() && src.charAt(bodyStart) == '-';
            boolean keepLeft = bodyStart < src.length() && src.charAt(bodyStart) == '+';
            if (stripLeft || keepLeft) {
                bodyStart++;
            }
            int close = type == '{' ? findExpressionEnd(src, bodyStart) : src.indexOf(type == '%' ? "%}" : "#}", bodyStart);
            if (close < 0) {
                throw new TemplateException("unclosed tag opened on line " + line);
            }
            int bodyEnd = close;
            boolean stripRight = bodyEnd > bodyStart && src.charAt(bodyEnd - 1) == '-';
            if (stripRight || (bodyEnd > bodyStart && src.charAt(bodyEnd - 1) == '+')) {
                bodyEnd--;
            }
            tags.add(new RawTag(type, open, close + 2, src.substring(bodyStart, bodyEnd), stripLeft, keepLeft, stripRight, line));
            line += count(src, open, close + 2, '\n');
            i = close + 2;
        }

        List<Segment> out = new ArrayList<>();
        int pos = 0;
        boolean trimNextNewline = false;
        boolean stripNext = false;
        boolean lineStarting = true;
        int textLine = 1;
        for (RawTag tag : tags) {
            String raw = src.substring(pos, tag.start);
            String text = leading(raw, stripNext, trimNextNewline);
            if (text.length() < raw.length()) {
                // Jinja counts the whitespace a tag consumed as part of that tag's match.
                lineStarting = raw.charAt(raw.length() - text.length() - 1) == '\n';
            }
            boolean block = tag.type != '{';
            if (tag.stripLeft) {
                text = text.stripTrailing();
            } else if (block && !tag.keepLeft) {
                text = lstripBlock(text, lineStarting);
            }
            if (!text.isEmpty()) {
                out.add(new Segment(Kind.TEXT, text, textLine));
            }
            if (tag.type == '{') {
                out.add(new Segment(Kind.EXPRESSION, tag.body, tag.line));
            } else if (tag.type == '%') {
                out.add(new Segment(Kind.STATEMENT, tag.body, tag.line));
            }
            stripNext = tag.stripRight;
            trimNextNewline = block;
            lineStarting = false;
            pos = tag.end;
            textLine = tag.line + count(src, tag.start, tag.end, '\n');
        }
        String tail = leading(src.substring(pos), stripNext, trimNextNewline);
        if (!tail.isEmpty()) {
            out.add(new Segment(Kind.TEXT, tail, textLine));
        }
        return out;
    }

    private static String leading(String text, boolean strip, boolean trimNewline) {
        if (strip) {
            return text.stripLeading();
        }
        if (trimNewline) {
            if (text.startsWith("\r\n")) {
                return text.substring(2);
            }
            if (text.startsWith("\n")) {
                return text.substring(1);
            }
        }
        return text;
    }

    /** lstrip_blocks: spaces and tabs between the start of a line and a block tag are removed. */
    private static String lstripBlock(String text, boolean lineStarting) {
        int nl = text.lastIndexOf('\n');
        if (nl < 0 && !lineStarting) {
            // The tag is not at the start of a line: the text before it belongs to the same line as
            // an earlier tag, and Jinja only strips when the line holds nothing else.
            return text;
        }
        int from = nl + 1;
        for (int k = from; k < text.length(); k++) {
            char c = text.charAt(k);
            if (c != ' ' && c != '\t') {
                return text;
            }
        }
        return text.substring(0, from);
    }

    /** Finds the "}}" that ends an expression, skipping string literals that may contain "}}". */
    private static int findExpressionEnd(String src, int from) {
        char quote = 0;
        for (int k = from; k < src.length() - 1; k++) {
            char c = src.charAt(k);
            if (quote != 0) {
                if (c == '\\') {
                    k++;
                } else if (c == quote) {
                    quote = 0;
                }
            } else if (c == '\'' || c == '"') {
                quote = c;
            } else if (c == '}' && src.charAt(k + 1) == '}') {
                return k;
            }
        }
        return -1;
    }

    private static int count(String s, int from, int to, char c) {
        int n = 0;
        for (int k = from; k < to; k++) {
            if (s.charAt(k) == c) {
                n++;
            }
        }
        return n;
    }

    private Lexer() {}
}
