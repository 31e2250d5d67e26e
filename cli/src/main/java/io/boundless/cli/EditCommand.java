package io.boundless.cli;

import io.boundless.proto.knowledge_edit.v1.CreateEditRequest;
import io.boundless.proto.knowledge_edit.v1.CreateEditResponse;
import io.boundless.proto.knowledge_edit.v1.DeleteEditRequest;
import io.boundless.proto.knowledge_edit.v1.Edit;
import io.boundless.proto.knowledge_edit.v1.EvaluateRequest;
import io.boundless.proto.knowledge_edit.v1.FactEdit;
import io.boundless.proto.knowledge_edit.v1.GetEditRequest;
import io.boundless.proto.knowledge_edit.v1.KnowledgeEditGrpc;
import io.boundless.proto.knowledge_edit.v1.ListEditsRequest;
import io.boundless.proto.knowledge_edit.v1.Method;
import io.boundless.proto.knowledge_edit.v1.PublishRequest;
import io.boundless.proto.knowledge_edit.v1.PublishResponse;
import io.boundless.proto.knowledge_edit.v1.Scores;
import io.boundless.proto.knowledge_edit.v1.TraceRequest;
import io.boundless.proto.knowledge_edit.v1.TraceResponse;
import io.boundless.proto.knowledge_edit.v1.TraceResult;
import io.grpc.ManagedChannel;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * boundless edit trace | create | eval | publish | list | show | delete: the knowledge-edit service's API, at
 * BOUNDLESS_KNOWLEDGE_EDIT (default 127.0.0.1:9166, the router's port + 66 as boundless up starts it), with the trace
 * drawn as a heatmap in the terminal and, with --png, as an image.
 */
final class EditCommand {
    private EditCommand() {}

    static String target() {
        String t = System.getenv("BOUNDLESS_KNOWLEDGE_EDIT");
        return t == null || t.isBlank() ? "127.0.0.1:" + (9100 + LocalPlatform.KNOWLEDGE_EDIT_OFFSET) : t.strip();
    }

    static int run(List<String> args) throws IOException {
        try {
            return call(args);
        } catch (io.grpc.StatusRuntimeException e) {
            System.err.println();
            System.err.println("boundless edit: " + (Boundless.noServer(e) ? "no knowledge-edit service answers at " + target()
                    + ": start the platform with bin/boundless up (or set BOUNDLESS_KNOWLEDGE_EDIT to where one runs)"
                    : e.getStatus().getCode() + ": " + e.getStatus().getDescription()));
            return 1;
        }
    }

    private static int call(List<String> args) throws IOException {
        Iterator<String> it = args.iterator();
        String sub = it.hasNext() ? it.next() : "";
        ManagedChannel channel = Boundless.peerChannel(target());
        try {
            var stub = Boundless.withKey(KnowledgeEditGrpc.newBlockingStub(channel));
            switch (sub) {
                case "trace" -> {
                    TraceRequest.Builder b = TraceRequest.newBuilder();
                    Path png = null;
                    List<String> words = new ArrayList<>();
                    while (it.hasNext()) {
                        String a = it.next();
                        switch (a) {
                            case "--model" -> b.setModelVersion(Boundless.value(it, a));
                            case "--subject" -> b.setSubject(Boundless.value(it, a));
                            case "--target" -> b.setTarget(Boundless.value(it, a));
                            case "--samples" -> b.setSamples(Boundless.number(it, a, 1, 64));
                            case "--window" -> b.setWindow(Boundless.number(it, a, 1, 1000));
                            case "--png" -> png = Path.of(Boundless.value(it, a));
                            default -> words.add(a);
                        }
                    }
                    String prompt = String.join(" ", words);
                    if (prompt.isBlank() || b.getSubject().isEmpty()) {
                        throw new Boundless.UsageException("boundless edit trace --subject SUBJECT [--target T] [--png FILE] PROMPT...");
                    }
                    b.setPrompt(prompt);
                    TraceResult result = null;
                    var events = stub.withDeadlineAfter(30, TimeUnit.MINUTES).trace(b.build());
                    while (events.hasNext()) {
                        TraceResponse r = events.next();
                        if (r.hasProgress()) {
                            progress(r.getProgress(), System.err);
                        } else {
                            result = r.getResult();
                        }
                    }
                    System.err.print("\r\033[K");
                    printTrace(result, System.out);
                    if (png != null) {
                        writePng(result, png);
                        System.out.println("heatmap: " + png.toAbsolutePath());
                    }
                }
                case "create" -> {
                    CreateEditRequest.Builder b = CreateEditRequest.newBuilder();
                    String prompt = null;
                    String subject = null;
                    String targetNew = null;
                    while (it.hasNext()) {
                        String a = it.next();
                        switch (a) {
                            case "--method" -> b.setMethod(switch (Boundless.value(it, a).toLowerCase(java.util.Locale.ROOT)) {
                                case "rome" -> Method.METHOD_ROME;
                                case "memit" -> Method.METHOD_MEMIT;
                                case "alphaedit" -> Method.METHOD_ALPHAEDIT;
                                default -> throw new Boundless.UsageException("--method is rome, memit or alphaedit");
                            });
                            case "--model" -> b.setModelVersion(Boundless.value(it, a));
                            case "--prompt" -> prompt = Boundless.value(it, a);
                            case "--subject" -> subject = Boundless.value(it, a);
                            case "--target" -> targetNew = Boundless.value(it, a);
                            case "--fact" -> {
                                String[] p = Boundless.value(it, a).split("\\|", -1);
                                if (p.length != 3) {
                                    throw new Boundless.UsageException("--fact is 'PROMPT|SUBJECT|TARGET' (the prompt with {subject})");
                                }
                                b.addRequests(FactEdit.newBuilder().setPrompt(p[0]).setSubject(p[1]).setTargetNew(p[2]));
                            }
                            case "--set" -> {
                                String kv = Boundless.value(it, a);
                                int eq = kv.indexOf('=');
                                if (eq <= 0) {
                                    throw new Boundless.UsageException("--set is NAME=VALUE (layers=0,1 lr=2 ...)");
                                }
                                b.putHyperparameters(kv.substring(0, eq), kv.substring(eq + 1));
                            }
                            case "--corpus" -> b.setCorpus(Boundless.value(it, a));
                            case "--no-eval" -> b.setEvaluate(false);
                            default -> throw new Boundless.UsageException("unknown option " + a);
                        }
                    }
                    if (prompt != null || subject != null || targetNew != null) {
                        if (prompt == null || subject == null || targetNew == null) {
                            throw new Boundless.UsageException("a fact needs --prompt, --subject and --target together");
                        }
                        b.addRequests(FactEdit.newBuilder().setPrompt(prompt).setSubject(subject).setTargetNew(targetNew));
                    }
                    if (b.getMethod() == Method.METHOD_UNSPECIFIED) {
                        b.setMethod(b.getRequestsCount() > 1 ? Method.METHOD_MEMIT : Method.METHOD_ROME);
                    }
                    Edit edit = null;
                    var events = stub.withDeadlineAfter(6, TimeUnit.HOURS).createEdit(b.build());
                    while (events.hasNext()) {
                        CreateEditResponse r = events.next();
                        if (r.hasProgress()) {
                            progress(r.getProgress(), System.err);
                        } else {
                            edit = r.getEdit();
                        }
                    }
                    System.err.print("\r\033[K");
                    print(edit, System.out);
                    return edit != null && edit.getState().equals("SUCCEEDED") ? 0 : 1;
                }
                case "eval" -> {
                    EvaluateRequest.Builder b = EvaluateRequest.newBuilder();
                    while (it.hasNext()) {
                        String a = it.next();
                        switch (a) {
                            case "--model" -> b.setModelVersion(Boundless.value(it, a));
                            case "--cases" -> b.setWorldCases(Boundless.number(it, a, 1, 1000));
                            case "--fluency" -> b.setGenerationTokens(Boundless.number(it, a, 1, 200));
                            default -> {
                                if (a.startsWith("--")) {
                                    throw new Boundless.UsageException("unknown option " + a);
                                }
                                b.setEditId(a);
                            }
                        }
                    }
                    Scores s = stub.withDeadlineAfter(1, TimeUnit.HOURS).evaluate(b.build()).getScores();
                    System.out.println((b.getEditId().isEmpty() ? "unedited model" : "edit " + b.getEditId()) + ": " + row(s));
                }
                case "publish" -> {
                    PublishRequest.Builder b = PublishRequest.newBuilder();
                    while (it.hasNext()) {
                        String a = it.next();
                        switch (a) {
                            case "--canary" -> b.setCanary(true);
                            case "--name" -> b.setVersionName(Boundless.value(it, a));
                            case "--router" -> b.setRouter(Boundless.value(it, a));
                            default -> {
                                if (a.startsWith("--")) {
                                    throw new Boundless.UsageException("unknown option " + a);
                                }
                                b.setEditId(a);
                            }
                        }
                    }
                    if (b.getEditId().isEmpty()) {
                        throw new Boundless.UsageException("boundless edit publish EDIT_ID [--canary] [--name VERSION]");
                    }
                    PublishResponse r = stub.withDeadlineAfter(5, TimeUnit.MINUTES).publish(b.build());
                    System.out.println("published " + b.getEditId() + " as " + r.getSource() + " (version " + r.getVersionName() + ")");
                    r.getFilesMap().forEach((f, sha) -> System.out.println("  " + sha + "  " + f));
                    if (r.getCanaryStarted()) {
                        System.out.println("canary started: " + r.getRollout());
                        System.out.println("  bin/boundless rollout status   (abort rolls it back: bin/boundless rollout abort)");
                    }
                }
                case "list" -> {
                    var edits = stub.withDeadlineAfter(30, TimeUnit.SECONDS).listEdits(ListEditsRequest.getDefaultInstance()).getEditsList();
                    if (edits.isEmpty()) {
                        System.out.println("no edits");
                    }
                    for (Edit e : edits) {
                        System.out.printf("%-12s %-10s %-9s %-22s %s%n", e.getId(), e.getState(), e.getMethod().name().substring(7).toLowerCase(),
                                e.getModelVersion(), facts(e));
                    }
                }
                case "show" -> {
                    if (!it.hasNext()) {
                        throw new Boundless.UsageException("boundless edit show EDIT_ID");
                    }
                    print(stub.withDeadlineAfter(30, TimeUnit.SECONDS).getEdit(GetEditRequest.newBuilder().setId(it.next()).build()).getEdit(), System.out);
                }
                case "delete" -> {
                    if (!it.hasNext()) {
                        throw new Boundless.UsageException("boundless edit delete EDIT_ID");
                    }
                    String id = it.next();
                    stub.withDeadlineAfter(30, TimeUnit.SECONDS).deleteEdit(DeleteEditRequest.newBuilder().setId(id).build());
                    System.out.println("deleted " + id);
                }
                default -> throw new Boundless.UsageException("boundless edit trace|create|eval|publish|list|show|delete");
            }
            return 0;
        } finally {
            channel.shutdownNow();
        }
    }

    private static void progress(io.boundless.proto.knowledge_edit.v1.Progress p, PrintStream err) {
        String bar = "";
        if (p.getTotal() > 0) {
            int w = 20;
            int filled = (int) Math.min(w, w * p.getDone() / p.getTotal());
            bar = "[" + "#".repeat(filled) + "-".repeat(w - filled) + "] ";
        }
        err.print("\r\033[K" + p.getStage() + " " + bar + p.getMessage());
        err.flush();
    }

    static String facts(Edit e) {
        List<String> out = new ArrayList<>();
        for (FactEdit f : e.getRequestsList()) {
            out.add(f.getSubject() + ": " + (f.getTargetTrue().isEmpty() ? "" : f.getTargetTrue() + " -> ") + f.getTargetNew());
        }
        return String.join("; ", out);
    }

    static String row(Scores s) {
        return String.format("ES %s  PS %s  NS %s  S %s  (EM %s  PM %s  NM %s%s; %d cases)", pct(s.getEs()), pct(s.getPs()), pct(s.getNs()), pct(s.getS()),
                pct(s.getEm()), pct(s.getPm()), pct(s.getNm()), s.getGe() < 0 ? "" : String.format("  GE %.1f", s.getGe()), s.getCases());
    }

    private static String pct(double v) {
        return v < -100 || v == -1 ? "-" : String.format("%.1f", v);
    }

    static void print(Edit e, PrintStream out) {
        if (e == null) {
            out.println("the service ended the stream without the edit");
            return;
        }
        out.println("edit " + e.getId() + ": " + e.getState() + (e.getError().isEmpty() ? "" : " (" + e.getError() + ")"));
        out.println("  " + e.getMethod().name().substring(7).toLowerCase() + " on " + e.getModelVersion() + (e.getParent().isEmpty() ? "" : " after " + e.getParent())
                + ", layers " + e.getLayersList() + ", by " + e.getAuthor() + " at " + Instant.ofEpochMilli(e.getCreatedUnixMs()));
        out.println("  facts: " + facts(e));
        if (e.hasBaseMetrics()) {
            out.println("  before: " + row(e.getBaseMetrics()));
        }
        if (e.hasMetrics()) {
            out.println("  after:  " + row(e.getMetrics()));
        }
        if (e.getDeltaBytes() > 0) {
            out.printf("  delta: rank %d, %,d bytes (the base's weights: %,d bytes, %.2f%%), %.1f s%n", e.getRank(), e.getDeltaBytes(), e.getBaseBytes(),
                    100.0 * e.getDeltaBytes() / Math.max(1, e.getBaseBytes()), e.getSeconds());
        }
        if (!e.getPublishedSource().isEmpty()) {
            out.println("  published as " + e.getPublishedSource());
        } else if (e.getState().equals("SUCCEEDED")) {
            out.println("  publish it: bin/boundless edit publish " + e.getId() + " --canary");
        }
    }

    // ------------------------------------------------------------------ the trace, drawn

    private static final String SHADES = " ░▒▓█";

    static void printTrace(TraceResult t, PrintStream out) {
        if (t == null) {
            out.println("the service ended the stream without a result");
            return;
        }
        out.printf("causal trace of P(\"%s\"): clean %.3f, subject corrupted %.3f (%d noisy runs; MLP and attention over %d layer%s)%n", t.getAnswer(),
                t.getClean(), t.getCorrupted(), t.getSamples(), t.getWindow(), t.getWindow() == 1 ? "" : "s");
        Map<String, List<Double>> grids = new LinkedHashMap<>();
        grids.put("residual stream", t.getResidualList());
        grids.put("MLP output", t.getMlpList());
        grids.put("attention output", t.getAttentionList());
        int layers = t.getLayers();
        int tokens = t.getTokensCount();
        int width = 12;
        for (String tok : t.getTokensList()) {
            width = Math.max(width, Math.min(24, label(tok).length() + 2));
        }
        for (var g : grids.entrySet()) {
            double max = 1e-9;
            for (double v : g.getValue()) {
                max = Math.max(max, v - t.getCorrupted());
            }
            out.println();
            out.printf("%s: indirect effect, P restored − P corrupted (█ = %.3f)%n", g.getKey(), max);
            StringBuilder head = new StringBuilder(" ".repeat(width));
            for (int l = 0; l < layers; l++) {
                head.append(String.format("%8s", "L" + l));
            }
            out.println(head);
            for (int i = 0; i < tokens; i++) {
                boolean subj = i >= t.getSubjectFirst() && i <= t.getSubjectLast();
                StringBuilder row = new StringBuilder(String.format("%-" + width + "s", (subj ? "*" : " ") + label(t.getTokens(i))));
                for (int l = 0; l < layers; l++) {
                    double e = g.getValue().get(l * tokens + i) - t.getCorrupted();
                    int shade = (int) Math.round(Math.max(0, Math.min(1, e / max)) * (SHADES.length() - 1));
                    row.append(String.format(" %s%6.3f", SHADES.charAt(shade), e));
                }
                out.println(row);
            }
        }
        out.println("\n* subject tokens");
    }

    private static String label(String token) {
        String s = token.replace("\n", "\\n");
        return s.length() > 20 ? s.substring(0, 20) : s;
    }

    /** The three grids side by side, tokens down and layers across, darker for a larger indirect effect. */
    static void writePng(TraceResult t, Path file) throws IOException {
        int layers = t.getLayers();
        int tokens = t.getTokensCount();
        int cell = 28;
        int left = 130;
        int top = 40;
        int gap = 30;
        int gridW = Math.max(layers * cell, 150);
        int w = left + 3 * gridW + 2 * gap + 20;
        int h = top + tokens * cell + 40;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, w, h);
        List<List<Double>> grids = List.of(t.getResidualList(), t.getMlpList(), t.getAttentionList());
        Color[] tints = {new Color(88, 28, 135), new Color(21, 128, 61), new Color(185, 28, 28)};
        String[] names = {"residual", "MLP", "attention"};
        boolean text = true;
        try {
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        } catch (Throwable e) {
            text = false;  // no fonts on this machine: the cells only
        }
        for (int k = 0; k < 3; k++) {
            double max = 1e-9;
            for (double v : grids.get(k)) {
                max = Math.max(max, v - t.getCorrupted());
            }
            int x0 = left + k * (gridW + gap);
            for (int i = 0; i < tokens; i++) {
                for (int l = 0; l < layers; l++) {
                    double e = Math.max(0, Math.min(1, (grids.get(k).get(l * tokens + i) - t.getCorrupted()) / max));
                    Color c = tints[k];
                    g.setColor(new Color((int) (255 - e * (255 - c.getRed())), (int) (255 - e * (255 - c.getGreen())), (int) (255 - e * (255 - c.getBlue()))));
                    g.fillRect(x0 + l * cell, top + i * cell, cell - 1, cell - 1);
                }
            }
            if (text) {
                try {
                    g.setColor(Color.BLACK);
                    g.drawString(names[k] + " (max " + String.format("%.3f", max) + ")", x0, top - 22);
                    for (int l = 0; l < layers; l++) {
                        g.drawString(Integer.toString(l), x0 + l * cell + cell / 3, top + tokens * cell + 16);
                    }
                } catch (Throwable e) {
                    text = false;
                }
            }
        }
        if (text) {
            try {
                g.setColor(Color.BLACK);
                for (int i = 0; i < tokens; i++) {
                    boolean subj = i >= t.getSubjectFirst() && i <= t.getSubjectLast();
                    g.drawString((subj ? "* " : "  ") + label(t.getTokens(i)), 6, top + i * cell + cell / 2 + 4);
                }
                g.drawString("P(\"" + t.getAnswer() + "\"): clean " + String.format("%.3f", t.getClean()) + ", corrupted "
                        + String.format("%.3f", t.getCorrupted()) + "; layers across", 6, h - 8);
            } catch (Throwable e) {
                // the cells are drawn
            }
        }
        g.dispose();
        if (!javax.imageio.ImageIO.write(img, "png", file.toFile())) {
            throw new IOException("no PNG writer");
        }
    }
}
