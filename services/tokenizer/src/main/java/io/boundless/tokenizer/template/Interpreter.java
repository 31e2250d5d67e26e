package io.boundless.tokenizer.template;

import io.boundless.tokenizer.template.Node.*;
import io.boundless.tokenizer.template.Values.Callable;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Renders a parsed template: statements write to a buffer, expressions evaluate to {@link Values}. */
final class Interpreter {
    /** Rendering stops with an error past this much output, so a runaway template cannot exhaust memory. */
    static final int MAX_OUTPUT_CHARS = 16 << 20;

    private static final class BreakSignal extends RuntimeException {
        BreakSignal() {
            super(null, null, false, false);
        }
    }

    private static final class ContinueSignal extends RuntimeException {
        ContinueSignal() {
            super(null, null, false, false);
        }
    }

    /** Variables of one scope. Loop bodies and macros get a child scope; if-blocks do not. */
    private static final class Scope {
        final Scope parent;
        final Map<String, Object> vars = new HashMap<>();

        Scope(Scope parent) {
            this.parent = parent;
        }

        Object get(String name) {
            for (Scope s = this; s != null; s = s.parent) {
                if (s.vars.containsKey(name)) {
                    return s.vars.get(name);
                }
            }
            return Values.UNDEFINED;
        }
    }

    /** {@code namespace(...)}: the one mutable object, so loops can carry values out. */
    static final class Namespace extends LinkedHashMap<String, Object> {}

    static String render(List<Stmt> program, Map<String, Object> context) {
        Scope globals = new Scope(null);
        globals.vars.put("raise_exception", (Callable) (args, kw) -> {
            throw new TemplateException(args.isEmpty() ? "raise_exception called" : Values.str(args.getFirst()));
        });
        globals.vars.put("namespace", (Callable) (args, kw) -> {
            Namespace ns = new Namespace();
            for (Object a : args) {
                if (a instanceof Map<?, ?> m) {
                    m.forEach((k, v) -> ns.put(String.valueOf(k), v));
                }
            }
            ns.putAll(kw);
            return ns;
        });
        globals.vars.put("strftime_now", (Callable) (args, kw) -> strftime(Values.str(args.getFirst()), ZonedDateTime.now()));
        globals.vars.put("range", (Callable) (args, kw) -> {
            long start = 0;
            long stop;
            long step = 1;
            if (args.size() == 1) {
                stop = (long) Values.toDouble(args.get(0));
            } else {
                start = (long) Values.toDouble(args.get(0));
                stop = (long) Values.toDouble(args.get(1));
                if (args.size() > 2) {
                    step = (long) Values.toDouble(args.get(2));
                }
            }
            if (step == 0) {
                throw new TemplateException("range() arg 3 must not be zero");
            }
            List<Object> out = new ArrayList<>();
            for (long i = start; step > 0 ? i < stop : i > stop; i += step) {
                out.add(i);
                if (out.size() > 1_000_000) {
                    throw new TemplateException("range() too large");
                }
            }
            return out;
        });
        Scope root = new Scope(globals);
        root.vars.putAll(context);
        StringBuilder out = new StringBuilder();
        new Interpreter(out).exec(program, root);
        return out.toString();
    }

    private final StringBuilder out;

    private Interpreter(StringBuilder out) {
        this.out = out;
    }

    private void exec(List<Stmt> stmts, Scope scope) {
        for (Stmt s : stmts) {
            exec(s, scope);
        }
    }

    private void exec(Stmt stmt, Scope scope) {
        switch (stmt) {
            case Text t -> write(t.text());
            case Output o -> write(Values.str(eval(o.expr(), scope)));
            case If i -> exec(Values.truthy(eval(i.test(), scope)) ? i.then() : i.otherwise(), scope);
            case For f -> loop(f, scope);
            case Set s -> assign(s.target(), eval(s.value(), scope), scope);
            case SetBlock s -> {
                StringBuilder saved = new StringBuilder();
                Interpreter inner = new Interpreter(saved);
                inner.exec(s.body(), scope);
                scope.vars.put(s.name(), saved.toString());
            }
            case Macro m -> scope.vars.put(m.name(), macro(m, scope));
            case FilterBlock f -> {
                StringBuilder body = new StringBuilder();
                new Interpreter(body).exec(f.body(), scope);
                Scope inner = new Scope(scope);
                inner.vars.put(FilterBlock.BODY, body.toString());
                write(Values.str(eval(f.filter(), inner)));
            }
            case Break b -> throw new BreakSignal();
            case Continue c -> throw new ContinueSignal();
        }
    }

    private void write(String s) {
        if (out.length() + s.length() > MAX_OUTPUT_CHARS) {
            throw new TemplateException("the rendered template exceeds " + MAX_OUTPUT_CHARS + " characters");
        }
        out.append(s);
    }

    private void loop(For f, Scope scope) {
        List<Object> items = Values.iterate(eval(f.iterable(), scope));
        if (f.filter() != null) {
            List<Object> kept = new ArrayList<>();
            for (Object item : items) {
                Scope s = new Scope(scope);
                bindTargets(f.targets(), item, s);
                if (Values.truthy(eval(f.filter(), s))) {
                    kept.add(item);
                }
            }
            items = kept;
        }
        if (items.isEmpty()) {
            exec(f.otherwise(), scope);
            return;
        }
        for (int i = 0; i < items.size(); i++) {
            Scope s = new Scope(scope);
            bindTargets(f.targets(), items.get(i), s);
            s.vars.put("loop", loopContext(items, i));
            try {
                exec(f.body(), s);
            } catch (BreakSignal b) {
                break;
            } catch (ContinueSignal c) {
                // next item
            }
        }
    }

    private static Map<String, Object> loopContext(List<Object> items, int i) {
        Map<String, Object> loop = new HashMap<>();
        int n = items.size();
        loop.put("index", (long) i + 1);
        loop.put("index0", (long) i);
        loop.put("revindex", (long) (n - i));
        loop.put("revindex0", (long) (n - i - 1));
        loop.put("first", i == 0);
        loop.put("last", i == n - 1);
        loop.put("length", (long) n);
        loop.put("previtem", i > 0 ? items.get(i - 1) : Values.UNDEFINED);
        loop.put("nextitem", i < n - 1 ? items.get(i + 1) : Values.UNDEFINED);
        loop.put("cycle", (Callable) (args, kw) -> args.isEmpty() ? Values.UNDEFINED : args.get(i % args.size()));
        return loop;
    }

    private void bindTargets(List<String> targets, Object item, Scope s) {
        if (targets.size() == 1) {
            s.vars.put(targets.getFirst(), item);
            return;
        }
        List<Object> parts = Values.iterate(item);
        if (parts.size() != targets.size()) {
            throw new TemplateException("cannot unpack " + parts.size() + " values into " + targets.size() + " names");
        }
        for (int k = 0; k < targets.size(); k++) {
            s.vars.put(targets.get(k), parts.get(k));
        }
    }

    private void assign(Expr target, Object value, Scope scope) {
        switch (target) {
            case Name n -> scope.vars.put(n.name(), value);
            case Attribute a -> {
                if (!(eval(a.target(), scope) instanceof Namespace ns)) {
                    throw new TemplateException("cannot assign attribute on a non-namespace object");
                }
                ns.put(a.name(), value);
            }
            case TupleExpr t -> {
                List<Object> parts = Values.iterate(value);
                if (parts.size() != t.items().size()) {
                    throw new TemplateException("cannot unpack " + parts.size() + " values into " + t.items().size() + " names");
                }
                for (int k = 0; k < parts.size(); k++) {
                    assign(t.items().get(k), parts.get(k), scope);
                }
            }
            default -> throw new TemplateException("cannot assign to this expression");
        }
    }

    private Callable macro(Macro m, Scope defining) {
        return (args, kw) -> {
            Scope s = new Scope(defining);
            for (int k = 0; k < m.params().size(); k++) {
                String p = m.params().get(k);
                Object v;
                if (k < args.size()) {
                    v = args.get(k);
                } else if (kw.containsKey(p)) {
                    v = kw.get(p);
                } else if (m.defaults().get(k) != null) {
                    v = eval(m.defaults().get(k), s);
                } else {
                    v = Values.UNDEFINED;
                }
                s.vars.put(p, v);
            }
            StringBuilder buf = new StringBuilder();
            new Interpreter(buf).exec(m.body(), s);
            return buf.toString();
        };
    }

    // ---- expressions ---------------------------------------------------------------------------

    private Object eval(Expr e, Scope scope) {
        return switch (e) {
            case Literal l -> l.value();
            case Name n -> scope.get(n.name());
            case ListExpr l -> {
                List<Object> out = new ArrayList<>();
                for (Expr x : l.items()) {
                    out.add(eval(x, scope));
                }
                yield out;
            }
            case TupleExpr t -> {
                List<Object> out = new ArrayList<>();
                for (Expr x : t.items()) {
                    out.add(eval(x, scope));
                }
                yield Collections.unmodifiableList(out);
            }
            case DictExpr d -> {
                // Keys keep their type, as in Python: {0: 0, 512: 128} has int keys (ByteDance Seed's template sorts them).
                Map<Object, Object> out = new LinkedHashMap<>();
                for (int k = 0; k < d.keys().size(); k++) {
                    out.put(Values.plain(eval(d.keys().get(k), scope)), eval(d.values().get(k), scope));
                }
                yield out;
            }
            case Attribute a -> attribute(eval(a.target(), scope), a.name());
            case Subscript s -> subscript(eval(s.target(), scope), eval(s.index(), scope));
            case Slice s -> slice(eval(s.target(), scope), opt(s.start(), scope), opt(s.stop(), scope), opt(s.step(), scope));
            case Call c -> call(c, scope);
            case Filter f -> Filters.apply(f.name(), eval(f.target(), scope), args(f.args(), f.kwargNames(), scope), kwargs(f.args(), f.kwargNames(), scope));
            case Test t -> {
                boolean r = Filters.test(t.name(), eval(t.target(), scope), args(t.args(), List.of(), scope));
                yield t.negated() != r;
            }
            case Unary u -> switch (u.op()) {
                case "not" -> !Values.truthy(eval(u.operand(), scope));
                case "-" -> {
                    Object v = eval(u.operand(), scope);
                    yield v instanceof Long l ? (Object) (-l) : (Object) (-Values.toDouble(v));
                }
                default -> eval(u.operand(), scope);
            };
            case Binary b -> binary(b, scope);
            case Conditional c -> Values.truthy(eval(c.test(), scope)) ? eval(c.then(), scope) : eval(c.otherwise(), scope);
        };
    }

    private Object opt(Expr e, Scope scope) {
        return e == null ? null : eval(e, scope);
    }

    private List<Object> args(List<Expr> exprs, List<String> kwNames, Scope scope) {
        List<Object> out = new ArrayList<>();
        for (int k = 0; k < exprs.size() - kwNames.size(); k++) {
            out.add(eval(exprs.get(k), scope));
        }
        return out;
    }

    private Map<String, Object> kwargs(List<Expr> exprs, List<String> kwNames, Scope scope) {
        Map<String, Object> out = new LinkedHashMap<>();
        int positional = exprs.size() - kwNames.size();
        for (int k = 0; k < kwNames.size(); k++) {
            out.put(kwNames.get(k), eval(exprs.get(positional + k), scope));
        }
        return out;
    }

    private Object call(Call c, Scope scope) {
        List<Object> args = args(c.args(), c.kwargNames(), scope);
        Map<String, Object> kw = kwargs(c.args(), c.kwargNames(), scope);
        if (c.callee() instanceof Attribute a) {
            Object target = eval(a.target(), scope);
            Object attr = attribute(target, a.name());
            if (attr instanceof Callable fn) {
                return fn.call(args, kw);
            }
            return Methods.call(target, a.name(), args, kw);
        }
        Object fn = eval(c.callee(), scope);
        if (fn instanceof Callable callable) {
            return callable.call(args, kw);
        }
        String name = c.callee() instanceof Name n ? n.name() : "expression";
        throw new TemplateException("'" + name + "' is " + (fn == Values.UNDEFINED ? "undefined" : "not callable"));
    }

    static Object attribute(Object target, String name) {
        if (target instanceof Map<?, ?> m) {
            return m.containsKey(name) ? m.get(name) : Values.UNDEFINED;
        }
        if (target == Values.UNDEFINED) {
            throw new TemplateException("'Undefined' has no attribute '" + name + "'");
        }
        if (target == null) {
            throw new TemplateException("'None' has no attribute '" + name + "'");
        }
        return Values.UNDEFINED;
    }

    private static Object subscript(Object target, Object index) {
        target = Values.plain(target);
        index = Values.plain(index);
        switch (target) {
            case List<?> l -> {
                if (!(index instanceof Long i)) {
                    throw new TemplateException("list indices must be integers, not " + Values.typeName(index));
                }
                int k = (int) (i < 0 ? l.size() + i : i);
                return k >= 0 && k < l.size() ? l.get(k) : Values.UNDEFINED;
            }
            case String s -> {
                if (!(index instanceof Long i)) {
                    throw new TemplateException("string indices must be integers");
                }
                int[] cps = s.codePoints().toArray();
                int k = (int) (i < 0 ? cps.length + i : i);
                return k >= 0 && k < cps.length ? Character.toString(cps[k]) : Values.UNDEFINED;
            }
            case Map<?, ?> m -> {
                return m.containsKey(index) ? m.get(index) : Values.UNDEFINED;
            }
            case null -> throw new TemplateException("'None' is not subscriptable");
            default -> {
                if (target == Values.UNDEFINED) {
                    throw new TemplateException("'Undefined' is not subscriptable");
                }
                return Values.UNDEFINED;
            }
        }
    }

    private static Object slice(Object target, Object start, Object stop, Object step) {
        target = Values.plain(target);
        List<Object> items;
        boolean isString = target instanceof String;
        if (isString) {
            items = Values.iterate(target);
        } else if (target instanceof List<?> l) {
            items = new ArrayList<>(l);
        } else {
            throw new TemplateException("'" + Values.typeName(target) + "' object is not sliceable");
        }
        int n = items.size();
        long st = step == null ? 1 : (long) Values.toDouble(step);
        if (st == 0) {
            throw new TemplateException("slice step cannot be zero");
        }
        long lo;
        long hi;
        if (st > 0) {
            lo = start == null ? 0 : clamp((long) Values.toDouble(start), n, 0, n);
            hi = stop == null ? n : clamp((long) Values.toDouble(stop), n, 0, n);
        } else {
            lo = start == null ? n - 1 : clamp((long) Values.toDouble(start), n, -1, n - 1);
            hi = stop == null ? -1 : clamp((long) Values.toDouble(stop), n, -1, n - 1);
        }
        List<Object> out = new ArrayList<>();
        for (long i = lo; st > 0 ? i < hi : i > hi; i += st) {
            out.add(items.get((int) i));
        }
        if (isString) {
            StringBuilder sb = new StringBuilder();
            out.forEach(sb::append);
            return sb.toString();
        }
        return out;
    }

    private static long clamp(long i, int n, long min, long max) {
        if (i < 0) {
            i += n;
        }
        return Math.max(min, Math.min(max, i));
    }

    private Object binary(Binary b, Scope scope) {
        switch (b.op()) {
            case "and" -> {
                Object l = eval(b.left(), scope);
                return Values.truthy(l) ? eval(b.right(), scope) : l;
            }
            case "or" -> {
                Object l = eval(b.left(), scope);
                return Values.truthy(l) ? l : eval(b.right(), scope);
            }
            default -> {
            }
        }
        Object l = eval(b.left(), scope);
        Object r = eval(b.right(), scope);
        return switch (b.op()) {
            case "==" -> Values.equal(l, r);
            case "!=" -> !Values.equal(l, r);
            case "<" -> Values.compare(l, r) < 0;
            case ">" -> Values.compare(l, r) > 0;
            case "<=" -> Values.compare(l, r) <= 0;
            case ">=" -> Values.compare(l, r) >= 0;
            case "in" -> contains(r, l);
            case "~" -> Values.str(l) + Values.str(r);
            case "+" -> add(l, r);
            case "-", "*", "/", "//", "%", "**" -> arithmetic(b.op(), l, r);
            default -> throw new TemplateException("unknown operator " + b.op());
        };
    }

    static boolean contains(Object container, Object element) {
        Object item = Values.plain(element);
        return switch (Values.plain(container)) {
            case String s -> item instanceof String x ? s.contains(x) : false;
            case List<?> l -> l.stream().anyMatch(x -> Values.equal(x, item));
            case Map<?, ?> m -> m.containsKey(item);
            case Values.Generator g -> g.drain().stream().anyMatch(x -> Values.equal(x, item));
            case null -> throw new TemplateException("argument of type 'NoneType' is not iterable");
            default -> false;
        };
    }

    private static Object add(Object l, Object r) {
        if (l instanceof Values.Markup || r instanceof Values.Markup) {
            // markupsafe: Markup + str and str + Markup escape the plain string first.
            Object a = Values.plain(l);
            Object c = Values.plain(r);
            if (a instanceof String x && c instanceof String y) {
                return new Values.Markup((l instanceof Values.Markup ? x : Filters.escape(x)) + (r instanceof Values.Markup ? y : Filters.escape(y)));
            }
        }
        l = Values.plain(l);
        r = Values.plain(r);
        if (l instanceof String a && r instanceof String c) {
            return a + c;
        }
        if (l instanceof List<?> a && r instanceof List<?> c) {
            List<Object> out = new ArrayList<>(a);
            out.addAll(c);
            return out;
        }
        if (Values.isNumber(l) && Values.isNumber(r)) {
            return arithmetic("+", l, r);
        }
        if (l == Values.UNDEFINED || r == Values.UNDEFINED) {
            throw new TemplateException("unsupported operand: Undefined");
        }
        throw new TemplateException("unsupported operand type(s) for +: '" + Values.typeName(l) + "' and '" + Values.typeName(r) + "'");
    }

    private static Object arithmetic(String op, Object l, Object r) {
        l = Values.plain(l);
        r = Values.plain(r);
        if (op.equals("*") && l instanceof String s && r instanceof Long n) {
            return s.repeat((int) Math.max(0, n));
        }
        if (op.equals("%") && l instanceof String fmt) {
            return Methods.percentFormat(fmt, r);
        }
        if (!Values.isNumber(l) || !Values.isNumber(r)) {
            throw new TemplateException("unsupported operand type(s) for " + op + ": '" + Values.typeName(l) + "' and '" + Values.typeName(r) + "'");
        }
        boolean ints = !(l instanceof Double) && !(r instanceof Double);
        if (ints) {
            long a = (long) Values.toDouble(l);
            long c = (long) Values.toDouble(r);
            switch (op) {
                case "+" -> { return a + c; }
                case "-" -> { return a - c; }
                case "*" -> { return a * c; }
                case "//" -> {
                    if (c == 0) {
                        throw new TemplateException("integer division by zero");
                    }
                    return Math.floorDiv(a, c);
                }
                case "%" -> {
                    if (c == 0) {
                        throw new TemplateException("integer modulo by zero");
                    }
                    return Math.floorMod(a, c);
                }
                case "**" -> {
                    if (c >= 0) {
                        return (long) Math.pow(a, c);
                    }
                }
                default -> { }
            }
        }
        double a = Values.toDouble(l);
        double c = Values.toDouble(r);
        if ((op.equals("/") || op.equals("//") || op.equals("%")) && c == 0) {
            throw new TemplateException("division by zero");
        }
        return switch (op) {
            case "+" -> a + c;
            case "-" -> a - c;
            case "*" -> a * c;
            case "/" -> a / c;
            case "//" -> Math.floor(a / c);
            case "%" -> a - c * Math.floor(a / c);
            case "**" -> Math.pow(a, c);
            default -> throw new TemplateException("unknown operator " + op);
        };
    }

    /** Python's strftime for the directives chat templates use (dates in system prompts). */
    static String strftime(String fmt, ZonedDateTime t) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < fmt.length(); i++) {
            char c = fmt.charAt(i);
            if (c != '%' || i + 1 >= fmt.length()) {
                sb.append(c);
                continue;
            }
            char d = fmt.charAt(++i);
            String p = switch (d) {
                case 'd' -> "dd";
                case 'm' -> "MM";
                case 'Y' -> "yyyy";
                case 'y' -> "yy";
                case 'b' -> "MMM";
                case 'B' -> "MMMM";
                case 'a' -> "EEE";
                case 'A' -> "EEEE";
                case 'H' -> "HH";
                case 'I' -> "hh";
                case 'M' -> "mm";
                case 'S' -> "ss";
                case 'p' -> "a";
                case 'j' -> "DDD";
                default -> null;
            };
            if (d == '%') {
                sb.append('%');
            } else if (p == null) {
                sb.append('%').append(d);
            } else {
                sb.append(DateTimeFormatter.ofPattern(p, Locale.ENGLISH).format(t));
            }
        }
        return sb.toString();
    }
}
