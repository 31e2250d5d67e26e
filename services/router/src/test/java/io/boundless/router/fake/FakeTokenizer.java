package io.boundless.router.fake;

import io.boundless.proto.tokenizer.v1.ApplyChatTemplateRequest;
import io.boundless.proto.tokenizer.v1.ApplyChatTemplateResponse;
import io.boundless.proto.tokenizer.v1.DecodeRequest;
import io.boundless.proto.tokenizer.v1.DecodeResponse;
import io.boundless.proto.tokenizer.v1.DecodeStreamRequest;
import io.boundless.proto.tokenizer.v1.DecodeStreamResponse;
import io.boundless.proto.tokenizer.v1.EncodeRequest;
import io.boundless.proto.tokenizer.v1.EncodeResponse;
import io.boundless.proto.tokenizer.v1.GetTokenizerInfoRequest;
import io.boundless.proto.tokenizer.v1.GetTokenizerInfoResponse;
import io.boundless.proto.tokenizer.v1.TokenizerGrpc;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A tokenizer service whose tokens are bytes: a text's ids are its UTF-8 bytes, an id's text is its byte (ids are
 * below 128 here, so every id is one character). A chat renders as "role: content\n" per message. A prompt
 * containing "tokenizer-fails" is answered UNAVAILABLE, one containing "too-long" with 5000 ids.
 */
public final class FakeTokenizer extends TokenizerGrpc.TokenizerImplBase {
    public final AtomicInteger openStreams = new AtomicInteger();

    static List<Integer> ids(String text) {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        Integer[] out = new Integer[b.length];
        for (int i = 0; i < b.length; i++) {
            out[i] = b[i] & 0xff;
        }
        return List.of(out);
    }

    static String text(List<Integer> ids) {
        StringBuilder s = new StringBuilder();
        for (int id : ids) {
            s.append((char) id);
        }
        return s.toString();
    }

    @Override
    public void encode(EncodeRequest req, StreamObserver<EncodeResponse> out) {
        if (req.getText().contains("tokenizer-fails")) {
            out.onError(Status.UNAVAILABLE.withDescription("the fake tokenizer was told to fail").asRuntimeException());
            return;
        }
        List<Integer> ids = req.getText().contains("too-long") ? java.util.Collections.nCopies(5000, 120) : ids(req.getText());
        out.onNext(EncodeResponse.newBuilder().addAllIds(ids).build());
        out.onCompleted();
    }

    @Override
    public void applyChatTemplate(ApplyChatTemplateRequest req, StreamObserver<ApplyChatTemplateResponse> out) {
        StringBuilder s = new StringBuilder();
        for (var m : req.getMessagesList()) {
            s.append(m.getRole()).append(": ").append(m.getContent()).append('\n');
        }
        out.onNext(ApplyChatTemplateResponse.newBuilder().addAllIds(ids(s.toString())).build());
        out.onCompleted();
    }

    @Override
    public void getTokenizerInfo(GetTokenizerInfoRequest req, StreamObserver<GetTokenizerInfoResponse> out) {
        out.onNext(GetTokenizerInfoResponse.newBuilder().setHasChatTemplate(true).build());
        out.onCompleted();
    }

    @Override
    public void decode(DecodeRequest req, StreamObserver<DecodeResponse> out) {
        out.onNext(DecodeResponse.newBuilder().setText(text(req.getIdsList())).build());
        out.onCompleted();
    }

    @Override
    public StreamObserver<DecodeStreamRequest> decodeStream(StreamObserver<DecodeStreamResponse> out) {
        openStreams.incrementAndGet();
        return new StreamObserver<>() {
            @Override
            public void onNext(DecodeStreamRequest r) {
                out.onNext(DecodeStreamResponse.newBuilder().setText(text(r.getIdsList())).build());
            }

            @Override
            public void onError(Throwable t) {
                openStreams.decrementAndGet();
            }

            @Override
            public void onCompleted() {
                openStreams.decrementAndGet();
                out.onNext(DecodeStreamResponse.newBuilder().setText("").build());
                out.onCompleted();
            }
        };
    }
}
