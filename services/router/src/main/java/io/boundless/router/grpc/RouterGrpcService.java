package io.boundless.router.grpc;

import com.google.protobuf.InvalidProtocolBufferException;
import io.boundless.proto.MalformedRequests;
import io.boundless.proto.router.v1.ChatRequest;
import io.boundless.proto.router.v1.ChatResponse;
import io.boundless.proto.router.v1.GenerateRequest;
import io.boundless.proto.router.v1.GenerateResponse;
import io.boundless.proto.router.v1.ListModelsRequest;
import io.boundless.proto.router.v1.ListModelsResponse;
import io.boundless.proto.router.v1.RouterGrpc;
import io.boundless.router.Completion;
import io.boundless.router.CompletionSink;
import io.boundless.router.RouterLifecycle;
import io.boundless.router.TextRequest;
import io.grpc.BindableService;
import io.grpc.Context;
import io.grpc.Metadata;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import jakarta.inject.Inject;
import java.util.UUID;
import java.util.function.Function;
import org.jboss.logging.Logger;

/** gRPC adapter of the router: authenticates, maps the request, and streams the completion's chunks. */
@GrpcService
public class RouterGrpcService implements RouterGrpc.AsyncService, BindableService {
    private static final Logger LOG = Logger.getLogger(RouterGrpcService.class);

    @Inject
    RouterLifecycle lifecycle;

    @Override
    public ServerServiceDefinition bindService() {
        return MalformedRequests.guard(RouterGrpc.bindService(this));
    }

    @Override
    public void generate(GenerateRequest req, StreamObserver<GenerateResponse> out) {
        run(out, Function.identity(), () -> (switch (req.getPromptCase()) {
            case TEXT -> TextRequest.ofText(req.getModel(), req.getText(), req.getSampling(), n(req.getN()), requestId());
            case IDS -> TextRequest.ofIds(req.getModel(), req.getIds().getIdsList().stream().mapToInt(Integer::intValue).toArray(),
                    req.getSampling(), n(req.getN()), requestId());
            case PROMPT_NOT_SET -> throw Status.INVALID_ARGUMENT.withDescription("the prompt is missing: set text or ids").asRuntimeException();
        }).withBatch(batch(req.getPriority())));
    }

    @Override
    public void chat(ChatRequest req, StreamObserver<ChatResponse> out) {
        run(out, RouterGrpcService::asChat, () -> TextRequest.ofChat(req.getModel(), req.getMessagesList(), req.getChatTemplate(),
                req.getSampling(), n(req.getN()), requestId()).withTools(req.getToolsList()).withBatch(batch(req.getPriority())));
    }

    private static boolean batch(io.boundless.proto.router.v1.Priority p) {
        return switch (p) {
            case PRIORITY_BATCH -> true;
            case PRIORITY_UNSPECIFIED, PRIORITY_INTERACTIVE -> false;
            case UNRECOGNIZED -> throw Status.INVALID_ARGUMENT.withDescription("priority is PRIORITY_INTERACTIVE or PRIORITY_BATCH").asRuntimeException();
        };
    }

    @Override
    public void reason(io.boundless.proto.router.v1.ReasonRequest req, StreamObserver<io.boundless.proto.router.v1.ReasonResponse> out) {
        ServerCallStreamObserver<io.boundless.proto.router.v1.ReasonResponse> call = (ServerCallStreamObserver<io.boundless.proto.router.v1.ReasonResponse>) out;
        try {
            var g = lifecycle.gateway();
            String key = g.authorize(AuthInterceptor.CREDENTIALS.get());
            Metadata headers = AuthInterceptor.HEADERS.get();
            String sticky = g.stickinessKey(name -> headers == null ? null : headers.get(Metadata.Key.of(name, Metadata.ASCII_STRING_MARSHALLER)), null);
            var started = new java.util.concurrent.atomic.AtomicReference<io.boundless.router.reasoning.Reasoner>();
            call.setOnCancelHandler(() -> {  // in place before the reasoner's thread can write
                var r = started.get();
                if (r != null) {
                    r.cancel();
                }
            });
            var reasoner = lifecycle.reasoning().start(req, key, sticky, Context.current().getDeadline(), new io.boundless.router.reasoning.ReasoningSink() {
                @Override
                public void stage(io.boundless.proto.router.v1.ReasoningStage stage) {
                    send(io.boundless.proto.router.v1.ReasonResponse.newBuilder().setStage(stage).build());
                }

                @Override
                public void path(io.boundless.proto.router.v1.ReasoningPath path) {
                    send(io.boundless.proto.router.v1.ReasonResponse.newBuilder().setPath(path).build());
                }

                @Override
                public void result(io.boundless.proto.router.v1.ReasonResult result) {
                    send(io.boundless.proto.router.v1.ReasonResponse.newBuilder().setResult(result).build());
                    try {
                        call.onCompleted();
                    } catch (RuntimeException ignored) {
                        // the client went away
                    }
                }

                @Override
                public void error(StatusRuntimeException error) {
                    try {
                        call.onError(error);
                    } catch (RuntimeException ignored) {
                        // the client went away
                    }
                }

                private void send(io.boundless.proto.router.v1.ReasonResponse r) {
                    if (!call.isCancelled()) {
                        try {
                            call.onNext(r);
                        } catch (RuntimeException ignored) {
                            // cancelled between the check and the write: the reasoner is being cancelled too
                        }
                    }
                }
            });
            started.set(reasoner);
            if (call.isCancelled()) {
                reasoner.cancel();
            }
        } catch (StatusRuntimeException e) {
            out.onError(e);
        } catch (RuntimeException e) {
            LOG.error("unexpected error starting a reasoning request", e);
            out.onError(Status.INTERNAL.withDescription("internal error (" + e.getClass().getSimpleName() + "); see the router's log").asRuntimeException());
        }
    }

    @Override
    public void listModels(ListModelsRequest req, StreamObserver<ListModelsResponse> out) {
        try {
            var g = lifecycle.gateway();
            g.authorize(AuthInterceptor.CREDENTIALS.get());
            out.onNext(ListModelsResponse.newBuilder().addAllModels(g.models()).build());
            out.onCompleted();
        } catch (StatusRuntimeException e) {
            out.onError(e);
        }
    }

    private <T> void run(StreamObserver<T> out, Function<GenerateResponse, T> map, java.util.function.Supplier<TextRequest> request) {
        ServerCallStreamObserver<T> call = (ServerCallStreamObserver<T>) out;
        try {
            var g = lifecycle.gateway();
            String key = g.authorize(AuthInterceptor.CREDENTIALS.get());
            Metadata headers = AuthInterceptor.HEADERS.get();
            TextRequest req = request.get().withStickinessKey(g.stickinessKey(name -> headers == null ? null
                    : headers.get(Metadata.Key.of(name, Metadata.ASCII_STRING_MARSHALLER)), null)).withCaller(key);
            Completion c = g.start(req, Context.current().getDeadline(), new CompletionSink() {
                @Override
                public void onChunk(GenerateResponse chunk) {
                    call.onNext(map.apply(chunk));
                }

                @Override
                public void onError(StatusRuntimeException error) {
                    call.onError(error);
                }

                @Override
                public void onCompleted() {
                    call.onCompleted();
                }
            });
            call.setOnCancelHandler(c::cancel);
        } catch (StatusRuntimeException e) {
            out.onError(e);
        } catch (RuntimeException e) {
            LOG.error("unexpected error starting a request", e);
            out.onError(Status.INTERNAL.withDescription("internal error (" + e.getClass().getSimpleName() + "); see the router's log").asRuntimeException());
        }
    }

    private static int n(int n) {
        return n == 0 ? 1 : n;
    }

    private static String requestId() {
        return UUID.randomUUID().toString();
    }

    /** ChatResponse has GenerateResponse's fields with the same numbers: the bytes are the same message. */
    static ChatResponse asChat(GenerateResponse r) {
        try {
            return ChatResponse.parseFrom(r.toByteString());
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException(e);
        }
    }
}
