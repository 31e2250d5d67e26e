package io.boundless.router.grpc;

import io.boundless.proto.MalformedRequests;
import io.boundless.proto.router.v1.AdminGrpc;
import io.boundless.proto.router.v1.Analysis;
import io.boundless.proto.router.v1.AnalysisCheck;
import io.boundless.proto.router.v1.AbortRequest;
import io.boundless.proto.router.v1.AbortResponse;
import io.boundless.proto.router.v1.ApplyDeploymentRequest;
import io.boundless.proto.router.v1.ApplyDeploymentResponse;
import io.boundless.proto.router.v1.GetDeploymentStatusResponse;
import io.boundless.proto.router.v1.PauseRequest;
import io.boundless.proto.router.v1.PauseResponse;
import io.boundless.proto.router.v1.PromoteRequest;
import io.boundless.proto.router.v1.PromoteResponse;
import io.boundless.proto.router.v1.ResumeRequest;
import io.boundless.proto.router.v1.ResumeResponse;
import io.boundless.proto.router.v1.SetCanaryWeightResponse;
import io.boundless.proto.router.v1.WatchDeploymentEventsResponse;
import io.boundless.proto.router.v1.Condition;
import io.boundless.proto.router.v1.DeploymentEvent;
import io.boundless.proto.router.v1.DeploymentStatus;
import io.boundless.proto.router.v1.GetDeploymentStatusRequest;
import io.boundless.proto.router.v1.PoolReplicas;
import io.boundless.proto.router.v1.RolloutStatus;
import io.boundless.proto.router.v1.Scaling;
import io.boundless.proto.router.v1.SetCanaryWeightRequest;
import io.boundless.proto.router.v1.VersionStatus;
import io.boundless.proto.router.v1.WatchDeploymentEventsRequest;
import io.boundless.router.RouterLifecycle;
import io.boundless.router.control.DeploymentController;
import io.boundless.router.rollout.ModelDeployments;
import io.grpc.BindableService;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import jakarta.inject.Inject;
import java.util.function.Function;
import org.jboss.logging.Logger;

/** gRPC adapter of the deployment controller: admin scope, the controller's call, its status mapped to protos. */
@GrpcService
public class AdminGrpcService implements AdminGrpc.AsyncService, BindableService {
    private static final Logger LOG = Logger.getLogger(AdminGrpcService.class);
    private static final int MAX_MANIFEST = 1 << 20;

    @Inject
    RouterLifecycle lifecycle;

    @Override
    public ServerServiceDefinition bindService() {
        return MalformedRequests.guard(AdminGrpc.bindService(this));
    }

    /** The admin check, then the controller; or the status that says why not. */
    private DeploymentController controller(String action) {
        return controller(action, lifecycle.gateway().authorizeAdmin(AuthInterceptor.CREDENTIALS.get()));
    }

    private DeploymentController controller(String action, String who) {
        DeploymentController c = lifecycle.controller();
        if (c == null && lifecycle.onKubernetes()) {
            throw Status.UNAVAILABLE.withDescription("this router replica does not lead the deployment now; admin operations go to the leader"
                    + " (kubectl get lease -n <namespace> names it; retry: the router Service reaches another replica)").asRuntimeException();
        }
        if (c == null) {
            throw Status.FAILED_PRECONDITION.withDescription("this router runs no deployment: it serves static replicas (boundless.router.replicas);"
                    + " start the platform with boundless up --deployment FILE").asRuntimeException();
        }
        return c;
    }

    private <R> void unary(StreamObserver<R> out, String action, Function<DeploymentController, io.boundless.router.rollout.DeploymentStatus> call,
            Function<DeploymentStatus, R> wrap) {
        String who = null;
        try {
            who = lifecycle.gateway().authorizeAdmin(AuthInterceptor.CREDENTIALS.get());
            DeploymentStatus st = toProto(call.apply(controller(action, who)));
            audit(who, action, st.getName(), "ok");
            out.onNext(wrap.apply(st));
            out.onCompleted();
        } catch (StatusRuntimeException e) {
            audit(who, action, null, e.getStatus().getCode() + ": " + e.getStatus().getDescription());
            out.onError(e);
        } catch (ModelDeployments.InvalidDeploymentException e) {
            audit(who, action, null, "INVALID_ARGUMENT: " + e.getMessage());
            out.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
        } catch (IllegalStateException | IllegalArgumentException e) {
            audit(who, action, null, "FAILED_PRECONDITION: " + e.getMessage());
            out.onError(Status.FAILED_PRECONDITION.withDescription(e.getMessage()).asRuntimeException());
        } catch (RuntimeException e) {
            LOG.error("admin call failed", e);
            audit(who, action, null, "INTERNAL: " + e.getClass().getSimpleName());
            out.onError(Status.INTERNAL.withDescription("internal error (" + e.getClass().getSimpleName() + "); see the router's log").asRuntimeException());
        }
    }

    /**
     * An admin action (not a read) in the audit log: who (the key's name; "unauthenticated" when the key was refused),
     * what, on which deployment, and how it ended.
     */
    private void audit(String who, String action, String target, String outcome) {
        if (action == null) {
            return;
        }
        String deployment = target;
        if (deployment == null) {
            var c = lifecycle.controller();
            deployment = c == null ? "" : c.status().name();
        }
        lifecycle.gateway().audit().write(who == null ? "unauthorized" : who, action, deployment, outcome, java.util.Map.of());
    }

    @Override
    public void applyDeployment(ApplyDeploymentRequest req, StreamObserver<ApplyDeploymentResponse> out) {
        unary(out, "apply deployment", c -> {
            if (req.getManifest().length() > MAX_MANIFEST) {
                throw new ModelDeployments.InvalidDeploymentException("the manifest has " + req.getManifest().length() + " characters; the limit is " + MAX_MANIFEST);
            }
            c.apply(ModelDeployments.parse(req.getManifest(), "the manifest"));
            return c.status();
        }, st -> ApplyDeploymentResponse.newBuilder().setStatus(st).build());
    }

    @Override
    public void addVersion(io.boundless.proto.router.v1.AddVersionRequest req, StreamObserver<io.boundless.proto.router.v1.AddVersionResponse> out) {
        unary(out, "add version " + req.getName() + " (" + req.getSource() + ")", c -> c.addVersion(req.getName(), req.getSource()),
                st -> io.boundless.proto.router.v1.AddVersionResponse.newBuilder().setStatus(st).build());
    }

    @Override
    public void getDeploymentStatus(GetDeploymentStatusRequest req, StreamObserver<GetDeploymentStatusResponse> out) {
        unary(out, null, DeploymentController::status, st -> GetDeploymentStatusResponse.newBuilder().setStatus(st).build());
    }

    @Override
    public void promote(PromoteRequest req, StreamObserver<PromoteResponse> out) {
        unary(out, "promote", DeploymentController::promote, st -> PromoteResponse.newBuilder().setStatus(st).build());
    }

    @Override
    public void abort(AbortRequest req, StreamObserver<AbortResponse> out) {
        String who = "an operator";
        unary(out, "abort", c -> c.abort(who), st -> AbortResponse.newBuilder().setStatus(st).build());
    }

    @Override
    public void pause(PauseRequest req, StreamObserver<PauseResponse> out) {
        unary(out, "pause", DeploymentController::pause, st -> PauseResponse.newBuilder().setStatus(st).build());
    }

    @Override
    public void resume(ResumeRequest req, StreamObserver<ResumeResponse> out) {
        unary(out, "resume", DeploymentController::resume, st -> ResumeResponse.newBuilder().setStatus(st).build());
    }

    @Override
    public void setCanaryWeight(SetCanaryWeightRequest req, StreamObserver<SetCanaryWeightResponse> out) {
        unary(out, "set canary weight " + req.getWeight(), c -> {
            if (req.getWeight() > 100) {
                throw new ModelDeployments.InvalidDeploymentException("weight is 0 to 100, not " + req.getWeight());
            }
            return c.setWeight(req.getWeight());
        }, st -> SetCanaryWeightResponse.newBuilder().setStatus(st).build());
    }

    @Override
    public void watchDeploymentEvents(WatchDeploymentEventsRequest req, StreamObserver<WatchDeploymentEventsResponse> out) {
        ServerCallStreamObserver<WatchDeploymentEventsResponse> call = (ServerCallStreamObserver<WatchDeploymentEventsResponse>) out;
        try {
            DeploymentController c = controller(null);
            Object lock = new Object();
            // the recent events first, then each new one; events are written under one lock (gRPC observers are not thread-safe)
            Runnable stop;
            synchronized (lock) {
                stop = c.watch(e -> {
                    synchronized (lock) {
                        if (call.isCancelled()) {
                            throw new IllegalStateException("the watcher went away");
                        }
                        call.onNext(WatchDeploymentEventsResponse.newBuilder().setEvent(toProto(e)).build());
                    }
                });
                for (var e : c.status().events()) {
                    call.onNext(WatchDeploymentEventsResponse.newBuilder().setEvent(toProto(e)).build());
                }
            }
            call.setOnCancelHandler(stop);
        } catch (StatusRuntimeException e) {
            out.onError(e);
        }
    }

    static DeploymentEvent toProto(io.boundless.router.rollout.DeploymentStatus.Event e) {
        return DeploymentEvent.newBuilder().setTime(e.time()).setType(e.type()).setReason(e.reason()).setMessage(e.message()).build();
    }

    static DeploymentStatus toProto(io.boundless.router.rollout.DeploymentStatus s) {
        var b = DeploymentStatus.newBuilder().setName(s.name()).setModel(s.model()).setObservedGeneration(s.observedGeneration());
        for (var c : s.conditions()) {
            b.addConditions(Condition.newBuilder().setType(c.type()).setStatus(c.status()).setReason(c.reason()).setMessage(c.message())
                    .setLastTransitionTime(c.lastTransitionTime()).setObservedGeneration(c.observedGeneration()));
        }
        for (var v : s.versions()) {
            var vb = VersionStatus.newBuilder().setName(v.name()).setSource(v.source() == null ? "" : v.source()).setWeight(v.weight());
            for (var p : v.pools()) {
                vb.addPools(PoolReplicas.newBuilder().setPool(p.pool()).setReady(p.ready()).setDesired(p.desired()).setDraining(p.draining()));
            }
            b.addVersions(vb);
        }
        var r = s.rollout();
        if (r != null) {
            var rb = RolloutStatus.newBuilder().setPhase(r.phase()).setStable(r.stable()).setCanary(r.canary() == null ? "" : r.canary())
                    .setCanaryWeight(r.canaryWeight()).setStep(r.step()).setSteps(r.steps()).setMessage(r.message());
            if (r.lastAnalysis() != null) {
                var ab = Analysis.newBuilder().setVerdict(r.lastAnalysis().verdict()).setReason(r.lastAnalysis().reason());
                for (var k : r.lastAnalysis().checks()) {
                    ab.addChecks(AnalysisCheck.newBuilder().setMetric(k.metric()).setCanary(k.canary()).setStable(k.stable()).setThreshold(k.threshold())
                            .setVerdict(k.verdict()));
                }
                rb.setLastAnalysis(ab);
            }
            b.setRollout(rb);
        }
        for (var x : s.scaling()) {
            b.addScaling(Scaling.newBuilder().setVersion(x.version()).setPool(x.pool()).setCurrent(x.current()).setDesired(x.desired())
                    .setMetric(x.metric()).setReason(x.reason()).setLastScaleTime(x.lastScaleTime()).setLastScaleReason(x.lastScaleReason()));
        }
        s.events().forEach(e -> b.addEvents(toProto(e)));
        return b.build();
    }
}
