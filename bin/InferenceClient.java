// A minimal client of the inference service, run by `bin/boundless generate` as a single-file
// program on the service's own classpath: streams generated token ids for a prompt of token ids.
// Mutual TLS with the CLI's certificate (PeerTls.ofClientEnvironment), plaintext against `up --plaintext`.
import io.boundless.proto.inference.v1.*;
import io.grpc.StatusRuntimeException;
import java.util.concurrent.TimeUnit;

public class InferenceClient {
    public static void main(String[] args) {
        String target = System.getProperty("target", "127.0.0.1:9102");
        int maxNew = Integer.getInteger("maxNewTokens", 16);
        var channel = io.boundless.proto.tls.PeerTls.channelBuilder(io.boundless.proto.tls.PeerTls.ofClientEnvironment(), target).build();
        try {
            var stub = InferenceGrpc.newBlockingStub(channel).withDeadlineAfter(120, TimeUnit.SECONDS);
            var info = stub.getModelInfo(GetModelInfoRequest.getDefaultInstance());
            GenerateRequest.Builder req = GenerateRequest.newBuilder()
                    .setSampling(SamplingParameters.newBuilder().setTemperature(0).setMaxNewTokens(maxNew).setLogprobs(1));
            for (String a : args.length > 0 ? args : new String[] {"1", "2", "3", "4"}) {
                req.addPromptIds(Integer.parseInt(a.replace(",", "").strip()));
            }
            System.out.printf("model  %s (%s, %d layers, vocabulary %d, %d KV blocks of %d tokens, %s)%n", info.getModel(), info.getArchitecture(),
                    info.getLayers(), info.getVocabSize(), info.getKvBlocks(), info.getKvBlockSize(), info.getBackend());
            System.out.printf("prompt %s%n", req.getPromptIdsList());
            System.out.print("tokens");
            long t0 = System.nanoTime();
            long first = 0;
            var it = stub.generate(req.build());
            while (it.hasNext()) {
                GenerateResponse r = it.next();
                for (GeneratedToken t : r.getTokensList()) {
                    if (first == 0) {
                        first = System.nanoTime();
                    }
                    System.out.printf(" %d", t.getTokenId());
                    System.out.flush();
                }
                if (r.hasUsage()) {
                    double total = (System.nanoTime() - t0) / 1e6;
                    System.out.printf("%nfinish %s; %d prompt tokens (%d from the prefix cache), %d generated; first token %.1f ms, all %.1f ms%n",
                            r.getFinishReason(), r.getUsage().getPromptTokens(), r.getUsage().getCachedPromptTokens(), r.getUsage().getCompletionTokens(),
                            (first - t0) / 1e6, total);
                }
            }
        } catch (StatusRuntimeException e) {
            System.err.println("error: " + e.getStatus().getCode() + ": " + e.getStatus().getDescription());
            System.exit(1);
        } finally {
            channel.shutdownNow();
        }
    }
}
