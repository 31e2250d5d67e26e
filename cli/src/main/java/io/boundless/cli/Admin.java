package io.boundless.cli;

import io.boundless.proto.router.v1.AdminGrpc;
import io.boundless.proto.router.v1.ApplyDeploymentRequest;
import io.boundless.proto.router.v1.DeploymentEvent;
import io.boundless.proto.router.v1.DeploymentStatus;
import io.boundless.proto.router.v1.GetDeploymentStatusRequest;
import io.boundless.proto.router.v1.AbortRequest;
import io.boundless.proto.router.v1.PauseRequest;
import io.boundless.proto.router.v1.PromoteRequest;
import io.boundless.proto.router.v1.ResumeRequest;
import io.boundless.proto.router.v1.SetCanaryWeightRequest;
import io.boundless.proto.router.v1.WatchDeploymentEventsRequest;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** boundless deploy | rollout | scale: the router's Admin API, and its status printed for a person at a glance. */
final class Admin {
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("HH:mm:ss").withZone(ZoneId.systemDefault());

    private Admin() {}

    static int run(String command, List<String> args) {
        Iterator<String> it = args.iterator();
        String sub = it.hasNext() ? it.next() : "";
        String target = Boundless.routerTarget();
        ManagedChannel channel = Boundless.channel(target);
        try {
            var admin = Boundless.withKey(AdminGrpc.newBlockingStub(channel)).withDeadlineAfter(60, TimeUnit.SECONDS);
            switch (command + " " + sub) {
                case "deploy apply" -> {
                    Path file = null;
                    while (it.hasNext()) {
                        String a = it.next();
                        if (a.equals("-f") || a.equals("--file")) {
                            file = Path.of(Boundless.value(it, a));
                        } else {
                            throw new Boundless.UsageException("unknown option " + a);
                        }
                    }
                    if (file == null) {
                        throw new Boundless.UsageException("give the deployment file: boundless deploy apply -f FILE");
                    }
                    String manifest;
                    try {
                        manifest = Files.readString(file);
                    } catch (IOException e) {
                        System.err.println("boundless deploy apply: cannot read " + file + ": " + e.getMessage());
                        return 1;
                    }
                    DeploymentStatus s = admin.applyDeployment(ApplyDeploymentRequest.newBuilder().setManifest(manifest).build()).getStatus();
                    System.out.println("applied " + file + " (generation " + s.getObservedGeneration() + ")");
                    print(s, System.out);
                }
                case "deploy events" -> {
                    var events = Boundless.withKey(AdminGrpc.newBlockingStub(channel)).watchDeploymentEvents(WatchDeploymentEventsRequest.getDefaultInstance());
                    while (events.hasNext()) {
                        System.out.println(line(events.next().getEvent()));
                    }
                }
                case "rollout status" -> print(admin.getDeploymentStatus(GetDeploymentStatusRequest.getDefaultInstance()).getStatus(), System.out);
                case "rollout promote" -> print(admin.promote(PromoteRequest.getDefaultInstance()).getStatus(), System.out);
                case "rollout abort" -> print(admin.abort(AbortRequest.getDefaultInstance()).getStatus(), System.out);
                case "rollout pause" -> print(admin.pause(PauseRequest.getDefaultInstance()).getStatus(), System.out);
                case "rollout resume" -> print(admin.resume(ResumeRequest.getDefaultInstance()).getStatus(), System.out);
                case "rollout set-weight" -> print(admin.setCanaryWeight(SetCanaryWeightRequest.newBuilder()
                        .setWeight(Boundless.number(it, "set-weight", 0, 100)).build()).getStatus(), System.out);
                case "scale status" -> printScaling(admin.getDeploymentStatus(GetDeploymentStatusRequest.getDefaultInstance()).getStatus(), System.out);
                default -> throw new Boundless.UsageException(sub.isEmpty() ? "what to do? (see the usage)" : "unknown command '" + command + " " + sub + "'");
            }
            return 0;
        } catch (StatusRuntimeException e) {
            System.err.println("boundless " + command + " " + sub + ": " + Boundless.describe(e, target));
            return 1;
        } finally {
            channel.shutdownNow();
        }
    }

    static String line(DeploymentEvent e) {
        return String.format("%s %-7s %-24s %s", TIME.format(Instant.ofEpochMilli(e.getTime())), e.getType(), e.getReason(), e.getMessage());
    }

    /** The status a person needs at a glance: conditions, the rollout, versions with weights and replicas, recent events. */
    static void print(DeploymentStatus s, PrintStream out) {
        out.printf("%s (deployment %s, generation %d)%n", s.getModel(), s.getName(), s.getObservedGeneration());
        StringBuilder c = new StringBuilder("  ");
        for (var k : s.getConditionsList()) {
            c.append(k.getType()).append('=').append(k.getStatus());
            if (!k.getReason().isEmpty() && !k.getReason().equals("AsExpected")) {
                c.append(" (").append(k.getReason()).append(')');
            }
            c.append("   ");
        }
        out.println(c.toString().stripTrailing());
        var r = s.getRollout();
        out.printf("  rollout %s: stable %s%s%n", r.getPhase(), r.getStable(), r.getCanary().isEmpty() ? ""
                : ", canary " + r.getCanary() + " at " + r.getCanaryWeight() + "%" + (r.getPhase().equals("Degraded") ? ""
                        : ", step " + Math.min(r.getStep() + 1, r.getSteps()) + " of " + r.getSteps()));
        out.println("    " + r.getMessage());
        if (r.hasLastAnalysis()) {
            out.println("  last analysis: " + r.getLastAnalysis().getVerdict());
            for (var k : r.getLastAnalysis().getChecksList()) {
                out.printf("    %-32s canary %-9s stable %-9s %-6s (%s)%n", k.getMetric(), num(k.getCanary()), num(k.getStable()), k.getVerdict(), k.getThreshold());
            }
        }
        out.printf("  %-14s %-7s %-10s %-14s %s%n", "VERSION", "WEIGHT", "POOL", "READY/DESIRED", "DRAINING");
        for (var v : s.getVersionsList()) {
            String base = v.getSource().contains("+") ? v.getSource().substring(0, v.getSource().indexOf('+')) : null;
            String over = base == null ? null : s.getVersionsList().stream().filter(b -> b.getSource().equals(base)).map(b -> b.getName()).findFirst().orElse(null);
            if (v.getPoolsCount() == 0 && over != null) {
                out.printf("  %-14s %-7s %s%n", v.getName(), v.getWeight() + "%", "an edit, served over " + over + "'s replicas (" + v.getSource() + ")");
            } else if (v.getPoolsCount() == 0) {
                out.printf("  %-14s %-7s %-10s %-14s %s%n", v.getName(), v.getWeight() + "%", "-", "0/0", 0);
            }
            for (var p : v.getPoolsList()) {
                out.printf("  %-14s %-7s %-10s %-14s %d%n", v.getName(), v.getWeight() + "%", p.getPool(), p.getReady() + "/" + p.getDesired(), p.getDraining());
            }
        }
        List<DeploymentEvent> events = s.getEventsList();
        if (!events.isEmpty()) {
            out.println("  recent events:");
            events.subList(Math.max(0, events.size() - 8), events.size()).forEach(e -> out.println("    " + line(e)));
        }
    }

    static void printScaling(DeploymentStatus s, PrintStream out) {
        out.printf("%-14s %-10s %-8s %-8s %-22s %s%n", "VERSION", "POOL", "CURRENT", "DESIRED", "LAST SCALE", "REASON");
        for (var x : s.getScalingList()) {
            String last = x.getLastScaleTime() == 0 ? "-" : TIME.format(Instant.ofEpochMilli(x.getLastScaleTime()));
            out.printf("%-14s %-10s %-8d %-8d %-22s %s%n", x.getVersion(), x.getPool(), x.getCurrent(), x.getDesired(), last, x.getReason());
        }
    }

    private static String num(double v) {
        return Double.isNaN(v) ? "n/a" : String.format("%.4g", v);
    }
}
