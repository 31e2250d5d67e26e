package io.boundless.proto;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import com.google.protobuf.UnknownFieldSet;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;
import java.io.InputStream;

/**
 * Makes a request that fails to parse (for example a string field holding bytes that are not
 * UTF-8) an INVALID_ARGUMENT naming the problem. Left alone, grpc-java answers such a request with
 * UNKNOWN "Application error processing RPC", which tells the client nothing.
 *
 * <p>How: each method's request marshaller turns a parse failure into an otherwise empty request
 * that carries the error in an unknown field no Boundless proto uses; the method's handler answers
 * such a request with INVALID_ARGUMENT before the service sees it. Services apply this by
 * overriding {@code bindService()}: {@code return MalformedRequests.guard(super.bindService());}
 */
public final class MalformedRequests {
    /** The largest field number protobuf allows; reserved here for the parse error. */
    static final int ERROR_FIELD = 536_870_911;

    public static ServerServiceDefinition guard(ServerServiceDefinition service) {
        ServiceDescriptor original = service.getServiceDescriptor();
        ServiceDescriptor.Builder descriptor = ServiceDescriptor.newBuilder(original.getName())
                .setSchemaDescriptor(original.getSchemaDescriptor());
        java.util.List<ServerMethodDefinition<?, ?>> methods = new java.util.ArrayList<>();
        for (ServerMethodDefinition<?, ?> m : service.getMethods()) {
            ServerMethodDefinition<?, ?> guarded = guardMethod(m);
            descriptor.addMethod(guarded.getMethodDescriptor());
            methods.add(guarded);
        }
        ServerServiceDefinition.Builder b = ServerServiceDefinition.builder(descriptor.build());
        methods.forEach(b::addMethod);
        return b.build();
    }

    private static <Q, R> ServerMethodDefinition<Q, R> guardMethod(ServerMethodDefinition<Q, R> m) {
        MethodDescriptor<Q, R> md = m.getMethodDescriptor();
        if (!(md.getRequestMarshaller() instanceof MethodDescriptor.PrototypeMarshaller<Q> proto)
                || !(proto.getMessagePrototype() instanceof Message)) {
            return m;
        }
        MethodDescriptor<Q, R> guardedMd = md.toBuilder(new Lenient<>(proto, md.getFullMethodName()), md.getResponseMarshaller()).build();
        return ServerMethodDefinition.create(guardedMd, guardHandler(m.getServerCallHandler()));
    }

    /** Parses as the original marshaller does, but turns a failure into a marked empty request. */
    private record Lenient<Q>(MethodDescriptor.PrototypeMarshaller<Q> delegate, String method)
            implements MethodDescriptor.PrototypeMarshaller<Q> {
        @Override
        public InputStream stream(Q value) {
            return delegate.stream(value);
        }

        @Override
        @SuppressWarnings("unchecked")
        public Q parse(InputStream stream) {
            try {
                return delegate.parse(stream);
            } catch (RuntimeException e) {
                Throwable cause = e.getCause() != null ? e.getCause() : e;
                String why = "the request to " + method + " is not a valid " + ((Message) delegate.getMessagePrototype()).getDescriptorForType().getFullName()
                        + ": " + cause.getMessage() + (cause.getMessage() != null && cause.getMessage().contains("UTF-8")
                        ? " (string fields must hold UTF-8)" : "");
                UnknownFieldSet marker = UnknownFieldSet.newBuilder().addField(ERROR_FIELD,
                        UnknownFieldSet.Field.newBuilder().addLengthDelimited(ByteString.copyFromUtf8(why)).build()).build();
                return (Q) ((Message) delegate.getMessagePrototype()).toBuilder().setUnknownFields(marker).build();
            }
        }

        @Override
        public Q getMessagePrototype() {
            return delegate.getMessagePrototype();
        }

        @Override
        public Class<Q> getMessageClass() {
            return delegate.getMessageClass();
        }
    }

    private static String parseError(Object request) {
        if (request instanceof Message m && m.getUnknownFields().hasField(ERROR_FIELD)) {
            return m.getUnknownFields().getField(ERROR_FIELD).getLengthDelimitedList().getFirst().toStringUtf8();
        }
        return null;
    }

    private static <Q, R> ServerCallHandler<Q, R> guardHandler(ServerCallHandler<Q, R> next) {
        return (call, headers) -> new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(next.startCall(call, headers)) {
            private boolean rejected;

            @Override
            public void onMessage(Q message) {
                if (rejected) {
                    return;
                }
                String error = parseError(message);
                if (error != null) {
                    rejected = true;
                    call.close(Status.INVALID_ARGUMENT.withDescription(error), new Metadata());
                    return;
                }
                super.onMessage(message);
            }

            @Override
            public void onHalfClose() {
                if (!rejected) {
                    super.onHalfClose();
                }
            }

            @Override
            public void onReady() {
                if (!rejected) {
                    super.onReady();
                }
            }
        };
    }

    private MalformedRequests() {}
}
