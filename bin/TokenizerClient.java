// A minimal client of the tokenizer service, run by `bin/boundless tokenize` as a single-file
// program on the service's own classpath (grpc + the generated stubs).
// Mutual TLS with the CLI's certificate (PeerTls.ofClientEnvironment), plaintext against `up --plaintext`.
import io.boundless.proto.tokenizer.v1.*;
import io.grpc.StatusRuntimeException;
import java.util.concurrent.TimeUnit;

public class TokenizerClient {
    public static void main(String[] args) throws Exception {
        String target = System.getProperty("target", "127.0.0.1:9101");
        String model = System.getProperty("model", "cl100k_base");
        String text = args.length > 0 ? String.join(" ", args) : "Hello from Boundless!";
        var channel = io.boundless.proto.tls.PeerTls.channelBuilder(io.boundless.proto.tls.PeerTls.ofClientEnvironment(), target).build();
        try {
            var stub = TokenizerGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
            var info = stub.getTokenizerInfo(GetTokenizerInfoRequest.newBuilder().setModel(model).build());
            var enc = stub.encode(EncodeRequest.newBuilder().setModel(model).setText(text).setReturnOffsets(true).build());
            System.out.printf("model %s (%s, vocabulary %d)%n", info.getModel(), info.getKind(), info.getVocabSize());
            System.out.printf("text  %s%n", text);
            System.out.printf("ids   %s (%d tokens)%n", enc.getIdsList(), enc.getIdsCount());
            StringBuilder pieces = new StringBuilder();
            int[] cps = text.codePoints().toArray();
            for (var o : enc.getOffsetsList()) {
                pieces.append('[').append(new String(cps, o.getStart(), o.getEnd() - o.getStart())).append(']');
            }
            System.out.printf("split %s%n", pieces);
            var dec = stub.decode(DecodeRequest.newBuilder().setModel(model).addAllIds(enc.getIdsList()).build());
            System.out.printf("back  %s%n", dec.getText());
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() == io.grpc.Status.Code.UNAVAILABLE && e.getCause() instanceof java.net.ConnectException) {
                System.err.println("boundless tokenize: no Boundless tokenizer answers at " + target
                        + ": start one with bin/boundless up (or set BOUNDLESS_TOKENIZER to where one runs)");
            } else {
                System.err.println("boundless tokenize: " + e.getStatus().getCode() + ": " + e.getStatus().getDescription());
            }
            System.exit(1);
        } finally {
            channel.shutdownNow();
        }
    }
}
