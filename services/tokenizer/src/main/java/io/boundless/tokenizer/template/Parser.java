package io.boundless.tokenizer.template;

import io.boundless.tokenizer.template.Node.*;
import java.util.ArrayList;
import java.util.List;

/** Parses lexer segments into a syntax tree, with Jinja's operator precedence. */
final class Parser {
    private record Tok(char kind, String text) {} // kind: n(ame) s(tring) i(nt) f(loat) o(perator)

    private final List<Lexer.Segment> segments;
    private int seg;

    // state of the expression token stream of the current tag
    private List<Tok> toks;
    private int pos;
    private int line;
    private int loopDepth; // break/continue are only allowed inside a for body

    private Parser(List<Lexer.Segment> segments) {
        this.segments = segments;
    }

    static List<Stmt> parse(String source) {
        Parser p = new Parser(Lexer.segments(source));
        List<Stmt> body = p.block(List.of());
        if (p.seg < p.segments.size()) {
            throw new TemplateException("unexpected '" + p.segments.get(p.seg).body().strip() + "' on line " + p.segments.get(p.seg).line());
        }
        return body;
    }

    /** Parses statements until a statement tag whose keyword is in {@code ends}; leaves it unconsumed. */
    private List<Stmt> block(List<String> ends) {
        List<Stmt> out = new ArrayList<>();
        while (seg < segments.size()) {
            Lexer.Segment s = segments.get(seg);
            switch (s.kind()) {
                case TEXT -> {
                    out.add(new Text(s.body()));
                    seg++;
                }
                case EXPRESSION -> {
                    begin(s);
                    Expr e = expression();
                    end();
                    out.add(new Output(e));
                    seg++;
                }
                case STATEMENT -> {
                    begin(s);
                    String keyword = peekText();
                    if (ends.contains(keyword)) {
                        return out;
                    }
                    pos++;
                    out.add(statement(keyword));
                }
            }
        }
        if (!ends.isEmpty()) {
            throw new TemplateException("missing '" + ends.getLast() + "' at the end of the template");
        }
        return out;
    }

    private Stmt statement(String keyword) {
        switch (keyword) {
            case "if" -> {
                return ifStatement();
            }
            case "for" -> {
                List<String> targets = new ArrayList<>();
                targets.add(name());
                while (accept(",")) {
                    targets.add(name());
                }
                expect("in");
                Expr iterable = ternaryFree();
                Expr filter = accept("if") ? expression() : null;
                endTag();
                loopDepth++;
                List<Stmt> body = block(List.of("else", "endfor"));
                loopDepth--;
                List<Stmt> otherwise = List.of();
                if (currentKeyword().equals("else")) {
                    endTag();
                    otherwise = block(List.of("endfor"));
                    closeTag();
                } else {
                    endTag();
                }
                return new For(targets, iterable, filter, body, otherwise);
            }
            case "set" -> {
                Expr target = primaryTarget();
                if (!accept("=")) {
                    if (!(target instanceof Name n)) {
                        throw error("a block set needs a plain name");
                    }
                    endTag();
                    List<Stmt> body = block(List.of("endset"));
                    closeTag();
                    return new SetBlock(n.name(), body);
                }
                Expr value = expression();
                if (peekIs(",")) {
                    List<Expr> items = new ArrayList<>(List.of(value));
                    while (accept(",")) {
                        items.add(expression());
                    }
                    value = new TupleExpr(items);
                }
                endTag();
                return new Set(target, value);
            }
            case "macro" -> {
                String name = name();
                expect("(");
                List<String> params = new ArrayList<>();
                List<Expr> defaults = new ArrayList<>();
                while (!accept(")")) {
                    params.add(name());
                    defaults.add(accept("=") ? expression() : null);
                    if (!peekIs(")")) {
                        expect(",");
                    }
                }
                endTag();
                int outerLoops = loopDepth;
                loopDepth = 0;
                List<Stmt> body = block(List.of("endmacro"));
                loopDepth = outerLoops;
                closeTag();
                return new Macro(name, params, defaults, body);
            }
            case "break" -> {
                if (loopDepth == 0) {
                    throw error("'break' outside a loop");
                }
                endTag();
                return new Break();
            }
            case "continue" -> {
                if (loopDepth == 0) {
                    throw error("'continue' outside a loop");
                }
                endTag();
                return new Continue();
            }
            case "filter" -> {
                pos--; // filters() starts at a '|'; the keyword stands in for it
                toks.set(pos, new Tok('o', "|"));
                Expr filter = filters(new Name(FilterBlock.BODY));
                endTag();
                List<Stmt> body = block(List.of("endfilter"));
                closeTag();
                return new FilterBlock(filter, body);
            }
            case "generation" -> {
                // Hugging Face's marker for assistant-token masks; it renders its body unchanged.
                endTag();
                List<Stmt> body = block(List.of("endgeneration"));
                closeTag();
                return new If(new Literal(true), body, List.of());
            }
            default -> throw error("unknown statement '" + keyword + "'");
        }
    }

    private Stmt ifStatement() {
        Expr test = expression();
        endTag();
        List<Stmt> then = block(List.of("elif", "else", "endif"));
        List<Stmt> otherwise = List.of();
        switch (currentKeyword()) {
            case "elif" -> otherwise = List.of(ifStatement());
            case "else" -> {
                endTag();
                otherwise = block(List.of("endif"));
                closeTag();
            }
            default -> endTag();
        }
        return new If(test, then, otherwise);
    }

    /** At a closing keyword tag (already positioned at it by block()): consume the keyword. */
    private String currentKeyword() {
        Tok t = toks.get(pos++);
        return t.text();
    }

    /** Consumes a closing tag such as "endif" that block() stopped at. */
    private void closeTag() {
        pos++;
        endTag();
    }

    private Expr primaryTarget() {
        String first = name();
        if (accept(".")) {
            return new Attribute(new Name(first), name());
        }
        if (peekIs(",")) {
            List<Expr> items = new ArrayList<>(List.of(new Name(first)));
            while (accept(",")) {
                items.add(new Name(name()));
            }
            return new TupleExpr(items);
        }
        return new Name(first);
    }

    // ---- expressions, lowest precedence first -------------------------------------------------

    private Expr expression() {
        Expr e = or();
        if (accept("if")) {
            Expr test = or();
            Expr otherwise = accept("else") ? expression() : new Literal(Values.UNDEFINED);
            return new Conditional(test, e, otherwise);
        }
        return e;
    }

    /** The iterable of a for loop: an expression that stops before a trailing "if" filter. */
    private Expr ternaryFree() {
        return or();
    }

    private Expr or() {
        Expr e = and();
        while (accept("or")) {
            e = new Binary("or", e, and());
        }
        return e;
    }

    private Expr and() {
        Expr e = not();
        while (accept("and")) {
            e = new Binary("and", e, not());
        }
        return e;
    }

    private Expr not() {
        if (accept("not")) {
            return new Unary("not", not());
        }
        return compare();
    }

    private Expr compare() {
        Expr e = math1();
        while (true) {
            String op = peekText();
            if (List.of("==", "!=", "<", ">", "<=", ">=", "in").contains(op) && peekKind() == 'o' || "in".equals(op) && peekKind() == 'n') {
                pos++;
                e = new Binary(op, e, math1());
            } else if ("not".equals(op) && peekKind() == 'n' && pos + 1 < toks.size() && toks.get(pos + 1).text().equals("in")) {
                pos += 2;
                e = new Unary("not", new Binary("in", e, math1()));
            } else {
                return e;
            }
        }
    }

    private Expr math1() {
        Expr e = concat();
        while (peekOp("+") || peekOp("-")) {
            String op = toks.get(pos++).text();
            e = new Binary(op, e, concat());
        }
        return e;
    }

    private Expr concat() {
        Expr e = math2();
        while (accept("~")) {
            e = new Binary("~", e, math2());
        }
        return e;
    }

    private Expr math2() {
        Expr e = pow();
        while (peekOp("*") || peekOp("/") || peekOp("//") || peekOp("%")) {
            String op = toks.get(pos++).text();
            e = new Binary(op, e, pow());
        }
        return e;
    }

    private Expr pow() {
        Expr e = unary();
        while (accept("**")) {
            e = new Binary("**", e, unary());
        }
        return e;
    }

    private Expr unary() {
        if (peekOp("-") || peekOp("+")) {
            String op = toks.get(pos++).text();
            return filters(new Unary(op, unaryNoFilter()));
        }
        return filters(postfix(primary()));
    }

    private Expr unaryNoFilter() {
        if (peekOp("-") || peekOp("+")) {
            String op = toks.get(pos++).text();
            return new Unary(op, unaryNoFilter());
        }
        return postfix(primary());
    }

    private Expr filters(Expr e) {
        while (true) {
            if (accept("|")) {
                String name = dottedName();
                List<Expr> args = new ArrayList<>();
                List<String> kw = new ArrayList<>();
                if (accept("(")) {
                    arguments(args, kw);
                }
                e = new Filter(e, name, args, kw);
            } else if (peekKind() == 'n' && peekText().equals("is")) {
                pos++;
                boolean negated = accept("not");
                String name = peekKind() == 'n' ? name() : next().text(); // "is ==" style tests
                List<Expr> args = new ArrayList<>();
                if (accept("(")) {
                    List<String> kw = new ArrayList<>();
                    arguments(args, kw);
                } else if (startsPrimary()) {
                    args.add(postfix(primary()));
                }
                e = new Test(e, name, args, negated);
            } else {
                return e;
            }
        }
    }

    private boolean startsPrimary() {
        if (pos >= toks.size()) {
            return false;
        }
        Tok t = toks.get(pos);
        if (t.kind() == 's' || t.kind() == 'i' || t.kind() == 'f') {
            return true;
        }
        if (t.kind() == 'n') {
            return !List.of("and", "or", "if", "else", "in", "not", "is").contains(t.text());
        }
        return false;
    }

    private Expr postfix(Expr e) {
        while (true) {
            if (accept(".")) {
                Tok t = next();
                e = new Attribute(e, t.text());
            } else if (accept("[")) {
                Expr start = null;
                Expr stop = null;
                Expr step = null;
                boolean slice = false;
                if (!peekOp(":")) {
                    start = expression();
                }
                if (accept(":")) {
                    slice = true;
                    if (!peekOp(":") && !peekOp("]")) {
                        stop = expression();
                    }
                    if (accept(":") && !peekOp("]")) {
                        step = expression();
                    }
                }
                expect("]");
                e = slice ? new Slice(e, start, stop, step) : new Subscript(e, start);
            } else if (accept("(")) {
                List<Expr> args = new ArrayList<>();
                List<String> kw = new ArrayList<>();
                arguments(args, kw);
                e = new Call(e, args, kw);
            } else {
                return e;
            }
        }
    }

    /** Parses call arguments after "(" up to and including ")". Keyword arguments come last. */
    private void arguments(List<Expr> args, List<String> kw) {
        while (!accept(")")) {
            if (peekKind() == 'n' && pos + 1 < toks.size() && toks.get(pos + 1).text().equals("=")) {
                kw.add(name());
                pos++;
            } else if (!kw.isEmpty()) {
                throw error("positional argument after keyword argument");
            }
            args.add(expression());
            if (!peekOp(")")) {
                expect(",");
            }
        }
    }

    private Expr primary() {
        Tok t = next();
        switch (t.kind()) {
            case 's' -> {
                StringBuilder sb = new StringBuilder(t.text());
                while (pos < toks.size() && toks.get(pos).kind() == 's') { // adjacent literals join
                    sb.append(toks.get(pos++).text());
                }
                return new Literal(sb.toString());
            }
            case 'i' -> {
                return new Literal(Long.parseLong(t.text().replace("_", "")));
            }
            case 'f' -> {
                return new Literal(Double.parseDouble(t.text().replace("_", "")));
            }
            case 'n' -> {
                return switch (t.text()) {
                    case "true", "True" -> new Literal(true);
                    case "false", "False" -> new Literal(false);
                    case "none", "None" -> new Literal(null);
                    default -> new Name(t.text());
                };
            }
            default -> {
                switch (t.text()) {
                    case "(" -> {
                        if (accept(")")) {
                            return new TupleExpr(List.of());
                        }
                        Expr e = expression();
                        if (peekOp(",")) {
                            List<Expr> items = new ArrayList<>(List.of(e));
                            while (accept(",") && !peekOp(")")) {
                                items.add(expression());
                            }
                            expect(")");
                            return new TupleExpr(items);
                        }
                        expect(")");
                        return e;
                    }
                    case "[" -> {
                        List<Expr> items = new ArrayList<>();
                        while (!accept("]")) {
                            items.add(expression());
                            if (!peekOp("]")) {
                                expect(",");
                            }
                        }
                        return new ListExpr(items);
                    }
                    case "{" -> {
                        List<Expr> keys = new ArrayList<>();
                        List<Expr> values = new ArrayList<>();
                        while (!accept("}")) {
                            keys.add(expression());
                            expect(":");
                            values.add(expression());
                            if (!peekOp("}")) {
                                expect(",");
                            }
                        }
                        return new DictExpr(keys, values);
                    }
                    default -> throw error("unexpected '" + t.text() + "'");
                }
            }
        }
    }

    // ---- token stream helpers ---------------------------------------------------------------

    private Tok next() {
        if (pos >= toks.size()) {
            throw error("unexpected end of expression");
        }
        return toks.get(pos++);
    }

    private void begin(Lexer.Segment s) {
        toks = tokenize(s.body(), s.line());
        pos = 0;
        line = s.line();
    }

    private void end() {
        if (pos < toks.size()) {
            throw error("unexpected '" + toks.get(pos).text() + "'");
        }
    }

    private void endTag() {
        end();
        seg++;
    }

    private String name() {
        if (pos >= toks.size() || toks.get(pos).kind() != 'n') {
            throw error("expected a name" + (pos < toks.size() ? " but found '" + toks.get(pos).text() + "'" : ""));
        }
        return toks.get(pos++).text();
    }

    private String dottedName() {
        StringBuilder sb = new StringBuilder(name());
        while (peekOp(".")) {
            pos++;
            sb.append('.').append(name());
        }
        return sb.toString();
    }

    private boolean accept(String text) {
        if (pos < toks.size() && toks.get(pos).text().equals(text) && toks.get(pos).kind() != 's') {
            pos++;
            return true;
        }
        return false;
    }

    private void expect(String text) {
        if (!accept(text)) {
            throw error("expected '" + text + "'" + (pos < toks.size() ? " but found '" + toks.get(pos).text() + "'" : " at the end"));
        }
    }

    private boolean peekIs(String text) {
        return pos < toks.size() && toks.get(pos).kind() != 's' && toks.get(pos).text().equals(text);
    }

    private boolean peekOp(String text) {
        return pos < toks.size() && toks.get(pos).kind() == 'o' && toks.get(pos).text().equals(text);
    }

    private String peekText() {
        return pos < toks.size() ? toks.get(pos).text() : "";
    }

    private char peekKind() {
        return pos < toks.size() ? toks.get(pos).kind() : 0;
    }

    private TemplateException error(String what) {
        return new TemplateException("template syntax error on line " + line + ": " + what);
    }

    private static final String[] OPERATORS = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "<", ">",
        "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|", "~"};

    private static List<Tok> tokenize(String s, int line) {
        List<Tok> out = new ArrayList<>();
        int i = 0;
        while (i < s.length()) {
            char c = s.charAt(i);
            if (Character.isWhitespace(c)) {
                i++;
            } else if (c == '\'' || c == '"') {
                StringBuilder sb = new StringBuilder();
                int j = i + 1;
                while (j < s.length() && s.charAt(j) != c) {
                    char d = s.charAt(j);
                    if (d == '\\' && j + 1 < s.length()) {
                        char e = s.charAt(++j);
                        switch (e) {
                            case 'n' -> sb.append('\n');
                            case 't' -> sb.append('\t');
                            case 'r' -> sb.append('\r');
                            case 'b' -> sb.append('\b');
                            case 'f' -> sb.append('\f');
                            case '0' -> sb.append('\0');
                            case 'u' -> {
                                sb.append((char) Integer.parseInt(s.substring(j + 1, j + 5), 16));
                                j += 4;
                            }
                            case 'x' -> {
                                sb.append((char) Integer.parseInt(s.substring(j + 1, j + 3), 16));
                                j += 2;
                            }
                            case '\\', '\'', '"' -> sb.append(e);
                            default -> sb.append('\\').append(e);
                        }
                    } else {
                        sb.append(d);
                    }
                    j++;
                }
                if (j >= s.length()) {
                    throw new TemplateException("template syntax error on line " + line + ": unterminated string");
                }
                out.add(new Tok('s', sb.toString()));
                i = j + 1;
            } else if (Character.isDigit(c)) {
                int j = i;
                while (j < s.length() && (Character.isDigit(s.charAt(j)) || s.charAt(j) == '_')) {
                    j++;
                }
                boolean isFloat = false;
                if (j + 1 < s.length() && s.charAt(j) == '.' && Character.isDigit(s.charAt(j + 1))) {
                    isFloat = true;
                    j++;
                    while (j < s.length() && (Character.isDigit(s.charAt(j)) || s.charAt(j) == '_')) {
                        j++;
                    }
                }
                if (j < s.length() && (s.charAt(j) == 'e' || s.charAt(j) == 'E')) {
                    int k = j + 1;
                    if (k < s.length() && (s.charAt(k) == '+' || s.charAt(k) == '-')) {
                        k++;
                    }
                    if (k < s.length() && Character.isDigit(s.charAt(k))) {
                        isFloat = true;
                        j = k;
                        while (j < s.length() && Character.isDigit(s.charAt(j))) {
                            j++;
                        }
                    }
                }
                out.add(new Tok(isFloat ? 'f' : 'i', s.substring(i, j)));
                i = j;
            } else if (Character.isLetter(c) || c == '_') {
                int j = i;
                while (j < s.length() && (Character.isLetterOrDigit(s.charAt(j)) || s.charAt(j) == '_')) {
                    j++;
                }
                out.add(new Tok('n', s.substring(i, j)));
                i = j;
            } else {
                String op = null;
                for (String o : OPERATORS) {
                    if (s.startsWith(o, i)) {
                        op = o;
                        break;
                    }
                }
                if (op == null) {
                    throw new TemplateException("template syntax error on line " + line + ": unexpected character '" + c + "'");
                }
                out.add(new Tok('o', op));
                i += op.length();
            }
        }
        return out;
    }
}
