package io.boundless.knowledgeedit.grpc;

import io.boundless.edit.CausalTrace;
import io.boundless.edit.EditRequest;
import io.boundless.edit.Evaluation;
import io.boundless.edit.Hyper;
import io.boundless.edit.Progress;
import io.boundless.knowledgeedit.EditService;
import io.boundless.knowledgeedit.KnowledgeEditLifecycle;
import io.boundless.proto.MalformedRequests;
import io.boundless.proto.knowledge_edit.v1.CreateEditRequest;
import io.boundless.proto.knowledge_edit.v1.CreateEditResponse;
import io.boundless.proto.knowledge_edit.v1.DeleteEditRequest;
import io.boundless.proto.knowledge_edit.v1.DeleteEditResponse;
import io.boundless.proto.knowledge_edit.v1.Edit;
import io.boundless.proto.knowledge_edit.v1.EvalCase;
import io.boundless.proto.knowledge_edit.v1.EvaluateRequest;
import io.boundless.proto.knowledge_edit.v1.EvaluateResponse;
import io.boundless.proto.knowledge_edit.v1.FactEdit;
import io.boundless.proto.knowledge_edit.v1.GetEditRequest;
import io.boundless.proto.knowledge_edit.v1.GetEditResponse;
import io.boundless.proto.knowledge_edit.v1.KnowledgeEditGrpc;
import io.boundless.proto.knowledge_edit.v1.ListEditsRequest;
import io.boundless.proto.knowledge_edit.v1.ListEditsResponse;
import io.boundless.proto.knowledge_edit.v1.Method;
import io.boundless.proto.knowledge_edit.v1.PublishRequest;
import io.boundless.proto.knowledge_edit.v1.PublishResponse;
import io.boundless.proto.knowledge_edit.v1.Scores;
import io.boundless.proto.knowledge_edit.v1.TraceRequest;
import io.boundless.proto.knowledge_edit.v1.TraceResponse;
import io.boundless.proto.knowledge_edit.v1.TraceResult;
import io.boundless.proto.knowledge_edit.v1.WatchEditRequest;
import io.boundless.proto.knowledge_edit.v1.WatchEditResponse;
import io.boundless.proto.router.v1.AddVersionRequest;
import io.boundless.proto.router.v1.AdminGrpc;
import io.grpc.BindableService;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GlobalInterceptor;
import io.quarkus.grpc.GrpcService;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.util.ArrayList;
import java.util.List;
import org.jboss.logging.Logger;

/** gRPC adapter of {@link EditService}: scopes checked, protos mapped, domain errors turned into statuses. */
@GrpcService
public class KnowledgeEditGrpcService implements KnowledgeEditGrpc.AsyncService, BindableService {
    private static final Logger LOG = Logger.getLogger(KnowledgeEditGrpcService.class);
    static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    static final Context.Key<String> CREDENTIALS = Context.key("boundless-authorization");

    /** Puts the call's "authorization" metadata into the gRPC context. */
    @ApplicationScoped
    @GlobalInterceptor
    public static class Credentials implements ServerInterceptor {
        @Override
        public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
            return Contexts.interceptCall(Context.current().withValue(CREDENTIALS, headers.get(AUTHORIZATION)), call, headers, next);
        }
    }

    @Inject
    KnowledgeEditLifecycle lifecycle;

    @Override
    public ServerServiceDefinition bindService() {
        return MalformedRequests.guard(KnowledgeEditGrpc.bindService(this));
    }

    private String caller(String scope) {
        return lifecycle.authorize(CREDENTIALS.get(), scope);
    }

    static StatusRuntimeException status(Throwable t) {
        Status s = switch (t) {
            case StatusRuntimeException e -> e.getStatus();
            case EditService.InvalidException e -> Status.INVALID_ARGUMENT.withDescription(e.getMessage());
            case EditService.NotFoundException e -> Status.NOT_FOUND.withDescription(e.getMessage());
            case EditService.StateException e -> Status.FAILED_PRECONDITION.withDescription(e.getMessage());
            case EditService.BusyException e -> Status.RESOURCE_EXHAUSTED.withDescription(e.getMessage());
            case IllegalArgumentException e -> Status.INVALID_ARGUMENT.withDescription(e.getMessage());
            default -> {
                LOG.error("unexpected error", t);
                yield Status.INTERNAL.withDescription("internal error (" + t.getClass().getSimpleName() + "); see the service's log");
            }
        };
        return s.asRuntimeException();
    }

    // ------------------------------------------------------------------ trace

    @Override
    public void trace(TraceRequest req, StreamObserver<TraceResponse> out) {
        try {
            caller("inference");
            ServerCallStreamObserver<TraceResponse> call = (ServerCallStreamObserver<TraceResponse>) out;
            Progress progress = (stage, done, total, message) -> {
                if (call.isCancelled()) {
                    throw Status.CANCELLED.withDescription("the trace was cancelled").asRuntimeException();
                }
                synchronized (call) {
                    call.onNext(TraceResponse.newBuilder().setProgress(progress(stage, done, total, message)).build());
                }
            };
            CausalTrace.Trace t = lifecycle.service().trace(new EditService.TraceParams(req.getModelVersion(), req.getPrompt(), req.getSubject(),
                    req.getTarget(), req.getSamples() == 0 ? 10 : req.getSamples(), req.getNoise() == 0 ? 3 : req.getNoise(), req.getWindow(),
                    req.getSeed() == 0 ? 1 : req.getSeed()), progress);
            TraceResult.Builder b = TraceResult.newBuilder().addAllTokens(t.tokens()).setSubjectFirst(t.subject()[0]).setSubjectLast(t.subject()[1])
                    .setAnswer(t.answer()).setClean(t.clean()).setCorrupted(t.corrupted()).setLayers(t.effects().get(CausalTrace.Kind.RESIDUAL).length)
                    .setWindow(t.window()).setSamples(t.samples());
            for (double[] row : t.effects().get(CausalTrace.Kind.RESIDUAL)) {
                for (double v : row) {
                    b.addResidual(v);
                }
            }
            for (double[] row : t.effects().get(CausalTrace.Kind.MLP)) {
                for (double v : row) {
                    b.addMlp(v);
                }
            }
            for (double[] row : t.effects().get(CausalTrace.Kind.ATTENTION)) {
                for (double v : row) {
                    b.addAttention(v);
                }
            }
            out.onNext(TraceResponse.newBuilder().setResult(b).build());
            out.onCompleted();
        } catch (RuntimeException e) {
            out.onError(status(e));
        }
    }

    static io.boundless.proto.knowledge_edit.v1.Progress progress(String stage, long done, long total, String message) {
        return io.boundless.proto.knowledge_edit.v1.Progress.newBuilder().setStage(stage).setDone(done).setTotal(total).setMessage(message).build();
    }

    // ------------------------------------------------------------------ edits

    @Override
    public void createEdit(CreateEditRequest req, StreamObserver<CreateEditResponse> out) {
        try {
            String who = caller("admin");
            EditService service = lifecycle.service();
            ServerCallStreamObserver<CreateEditResponse> call = (ServerCallStreamObserver<CreateEditResponse>) out;
            List<EditRequest> reqs = new ArrayList<>();
            for (FactEdit f : req.getRequestsList()) {
                reqs.add(new EditRequest(f.getPrompt(), f.getSubject(), f.getTargetNew(), f.getTargetTrue().isEmpty() ? null : f.getTargetTrue()));
            }
            EditService.Edit[] holder = new EditService.Edit[1];
            Object lock = new Object();
            Progress listener = (stage, done, total, message) -> {
                synchronized (lock) {
                    if (call.isCancelled()) {
                        return;  // the job goes on; WatchEdit reattaches
                    }
                    try {
                        if (stage.equals("done")) {
                            call.onNext(CreateEditResponse.newBuilder().setEdit(toProto(holder[0] == null ? null : holder[0])).build());
                            call.onCompleted();
                        } else {
                            call.onNext(CreateEditResponse.newBuilder().setProgress(progress(stage, done, total, message)).build());
                        }
                    } catch (RuntimeException ignored) {
                        // the client went away
                    }
                }
            };
            synchronized (lock) {
                holder[0] = service.create(new EditService.CreateParams(req.getModelVersion(), method(req.getMethod()), reqs, req.getHyperparametersMap(),
                        req.getCorpus(), req.getCorpusTokens(), !req.hasEvaluate() || req.getEvaluate()), who, listener);
                LOG.infof("edit %s (%s, %d facts) by key '%s'", holder[0].id, holder[0].method, reqs.size(), who);
                call.onNext(CreateEditResponse.newBuilder().setProgress(progress("queued", 0, 0, "edit " + holder[0].id + " queued")).build());
            }
        } catch (RuntimeException e) {
            out.onError(status(e));
        }
    }

    static Hyper.Method method(Method m) {
        return switch (m) {
            case METHOD_ROME -> Hyper.Method.ROME;
            case METHOD_MEMIT -> Hyper.Method.MEMIT;
            case METHOD_ALPHAEDIT -> Hyper.Method.ALPHAEDIT;
            default -> throw new EditService.InvalidException("method is required: METHOD_ROME, METHOD_MEMIT or METHOD_ALPHAEDIT");
        };
    }

    @Override
    public void watchEdit(WatchEditRequest req, StreamObserver<WatchEditResponse> out) {
        try {
            caller("inference");
            EditService service = lifecycle.service();
            EditService.Edit e = service.get(req.getId());
            ServerCallStreamObserver<WatchEditResponse> call = (ServerCallStreamObserver<WatchEditResponse>) out;
            Object lock = new Object();
            synchronized (lock) {
                EditService.Report last = service.watch(req.getId(), (stage, done, total, message) -> {
                    synchronized (lock) {
                        if (call.isCancelled()) {
                            return;
                        }
                        try {
                            if (stage.equals("done")) {
                                call.onNext(WatchEditResponse.newBuilder().setEdit(toProto(e)).build());
                                call.onCompleted();
                            } else {
                                call.onNext(WatchEditResponse.newBuilder().setProgress(progress(stage, done, total, message)).build());
                            }
                        } catch (RuntimeException ignored) {
                            // gone
                        }
                    }
                });
                if (!e.state.equals("RUNNING")) {
                    call.onNext(WatchEditResponse.newBuilder().setEdit(toProto(e)).build());
                    call.onCompleted();
                } else if (last != null) {
                    call.onNext(WatchEditResponse.newBuilder().setProgress(progress(last.stage(), last.done(), last.total(), last.message())).build());
                }
            }
        } catch (RuntimeException e) {
            out.onError(status(e));
        }
    }

    @Override
    public void getEdit(GetEditRequest req, StreamObserver<GetEditResponse> out) {
        try {
            caller("inference");
            out.onNext(GetEditResponse.newBuilder().setEdit(toProto(lifecycle.service().get(req.getId()))).build());
            out.onCompleted();
        } catch (RuntimeException e) {
            out.onError(status(e));
        }
    }

    @Override
    public void listEdits(ListEditsRequest req, StreamObserver<ListEditsResponse> out) {
        try {
            caller("inference");
            ListEditsResponse.Builder b = ListEditsResponse.newBuilder();
            lifecycle.service().list().forEach(e -> b.addEdits(toProto(e)));
            out.onNext(b.build());
            out.onCompleted();
        } catch (RuntimeException e) {
            out.onError(status(e));
        }
    }

    @Override
    public void deleteEdit(DeleteEditRequest req, StreamObserver<DeleteEditResponse> out) {
        try {
            String who = caller("admin");
            lifecycle.service().delete(req.getId(), who);
            out.onNext(DeleteEditResponse.getDefaultInstance());
            out.onCompleted();
        } catch (RuntimeException e) {
            out.onError(status(e));
        }
    }

    // ------------------------------------------------------------------ evaluation, publication

    @Override
    public void evaluate(EvaluateRequest req, StreamObserver<EvaluateResponse> out) {
        try {
            caller("inference");
            List<Evaluation.Case> cases = new ArrayList<>();
            for (EvalCase c : req.getCasesList()) {
                FactEdit f = c.getRequest();
                cases.add(new Evaluation.Case(new EditRequest(f.getPrompt(), f.getSubject(), f.getTargetNew(), f.getTargetTrue().isEmpty() ? null : f.getTargetTrue()),
                        c.getParaphrasesList(), c.getNeighborsList().stream().map(n -> new Evaluation.Neighbor(n.getPrompt(), n.getTrueObject())).toList(),
                        c.getGenerationPromptsList()));
            }
            Evaluation.Scores s = lifecycle.service().evaluate(req.getEditId(), req.getModelVersion(), cases, req.getWorldCases(), req.getGenerationTokens());
            out.onNext(EvaluateResponse.newBuilder().setScores(toProto(s)).build());
            out.onCompleted();
        } catch (RuntimeException e) {
            out.onError(status(e));
        }
    }

    @Override
    public void publish(PublishRequest req, StreamObserver<PublishResponse> out) {
        try {
            String who = caller("admin");
            EditService service = lifecycle.service();
            String name = req.getVersionName().isEmpty() ? req.getEditId() : req.getVersionName();
            if (!name.matches("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")) {
                throw new EditService.InvalidException("version_name must be a DNS label (lower-case letters, digits and '-'), not " + name);
            }
            EditService.Published p = service.publish(req.getEditId(), who);
            PublishResponse.Builder b = PublishResponse.newBuilder().setSource(p.source()).setVersionName(name).putAllFiles(p.files());
            if (req.getCanary()) {
                io.grpc.ManagedChannel ch = lifecycle.router(req.getRouter());
                Metadata md = new Metadata();
                String auth = CREDENTIALS.get();
                if (auth != null) {
                    md.put(AUTHORIZATION, auth);  // the caller's own admin key: the router checks it again
                }
                try {
                    var st = AdminGrpc.newBlockingStub(ch).withInterceptors(io.grpc.stub.MetadataUtils.newAttachHeadersInterceptor(md))
                            .withDeadlineAfter(30, java.util.concurrent.TimeUnit.SECONDS)
                            .addVersion(AddVersionRequest.newBuilder().setName(name).setSource(p.source()).build()).getStatus();
                    b.setCanaryStarted(true).setRollout(st.getRollout().getPhase() + ": " + st.getRollout().getMessage());
                    service.audit(who, "canary", req.getEditId(), java.util.Map.of("version", name, "source", p.source()));
                } catch (StatusRuntimeException e) {
                    throw Status.fromCode(e.getStatus().getCode()).withDescription("edit " + req.getEditId() + " is published as " + p.source()
                            + ", but the router refused its canary: " + e.getStatus().getDescription()).asRuntimeException();
                } finally {
                    if (!req.getRouter().isEmpty()) {
                        ch.shutdownNow();
                    }
                }
            }
            out.onNext(b.build());
            out.onCompleted();
        } catch (RuntimeException e) {
            out.onError(status(e));
        }
    }

    // ------------------------------------------------------------------ mapping

    static Scores toProto(Evaluation.Scores s) {
        if (s == null) {
            return Scores.getDefaultInstance();
        }
        return Scores.newBuilder().setEs(nz(s.es())).setEm(nz(s.em())).setPs(nz(s.ps())).setPm(nz(s.pm())).setNs(nz(s.ns())).setNm(nz(s.nm()))
                .setS(nz(s.s())).setGe(nz(s.ge())).setCases(s.cases()).build();
    }

    private static double nz(double v) {
        return Double.isNaN(v) ? -1 : v;  // -1: not measured (no paraphrase, no neighbor, no generation)
    }

    static Edit toProto(EditService.Edit e) {
        if (e == null) {
            return Edit.getDefaultInstance();
        }
        Edit.Builder b = Edit.newBuilder().setId(e.id).setModelVersion(e.modelVersion).setParent(e.parent).setMethod(switch (e.method) {
            case ROME -> Method.METHOD_ROME;
            case MEMIT -> Method.METHOD_MEMIT;
            case ALPHAEDIT -> Method.METHOD_ALPHAEDIT;
        }).putAllHyperparameters(e.hyperparameters).setState(e.state).setError(e.error).setAuthor(e.author).setCreatedUnixMs(e.created)
                .setSeconds(e.seconds).setRank(e.rank).setDeltaBytes(e.deltaBytes).setBaseBytes(e.baseBytes).setPublishedSource(e.publishedSource);
        e.layers.forEach(b::addLayers);
        for (EditRequest r : e.requests) {
            b.addRequests(FactEdit.newBuilder().setPrompt(r.prompt()).setSubject(r.subject()).setTargetNew(r.targetNew())
                    .setTargetTrue(r.targetTrue() == null ? "" : r.targetTrue()));
        }
        if (e.metrics != null) {
            b.setMetrics(toProto(e.metrics));
        }
        if (e.baseMetrics != null) {
            b.setBaseMetrics(toProto(e.baseMetrics));
        }
        return b.build();
    }
}
