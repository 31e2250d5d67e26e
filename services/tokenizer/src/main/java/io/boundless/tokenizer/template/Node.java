package io.boundless.tokenizer.template;

import java.util.List;

/** The template's syntax tree: statements ({@link Stmt}) and expressions ({@link Expr}). */
sealed interface Node {

    sealed interface Stmt extends Node {}

    record Text(String text) implements Stmt {}

    record Output(Expr expr) implements Stmt {}

    record If(Expr test, List<Stmt> then, List<Stmt> otherwise) implements Stmt {}

    /** {@code for targets in iterable [if filter]} with an optional {@code else} body for no items. */
    record For(List<String> targets, Expr iterable, Expr filter, List<Stmt> body, List<Stmt> otherwise) implements Stmt {}

    /** {@code set target = value}; target is a name, a tuple of names, or {@code ns.attr}. */
    record Set(Expr target, Expr value) implements Stmt {}

    /** {@code set name} ... {@code endset}: the rendered body becomes the value. */
    record SetBlock(String name, List<Stmt> body) implements Stmt {}

    record Macro(String name, List<String> params, List<Expr> defaults, List<Stmt> body) implements Stmt {}

    /** {@code filter name(args) | ...} ... {@code endfilter}: the rendered body through the filters; {@link #BODY} stands for it. */
    record FilterBlock(Expr filter, List<Stmt> body) implements Stmt {
        static final String BODY = "\u0000filter body";
    }

    record Break() implements Stmt {}

    record Continue() implements Stmt {}

    sealed interface Expr extends Node {}

    record Literal(Object value) implements Expr {}

    record Name(String name) implements Expr {}

    record ListExpr(List<Expr> items) implements Expr {}

    record TupleExpr(List<Expr> items) implements Expr {}

    record DictExpr(List<Expr> keys, List<Expr> values) implements Expr {}

    record Attribute(Expr target, String name) implements Expr {}

    record Subscript(Expr target, Expr index) implements Expr {}

    record Slice(Expr target, Expr start, Expr stop, Expr step) implements Expr {}

    /** A call; {@code kwargNames.get(i)} names {@code args.get(positional + i)}. */
    record Call(Expr callee, List<Expr> args, List<String> kwargNames) implements Expr {}

    record Filter(Expr target, String name, List<Expr> args, List<String> kwargNames) implements Expr {}

    record Test(Expr target, String name, List<Expr> args, boolean negated) implements Expr {}

    record Unary(String op, Expr operand) implements Expr {}

    record Binary(String op, Expr left, Expr right) implements Expr {}

    record Conditional(Expr test, Expr then, Expr otherwise) implements Expr {}
}
