package io.boundless.router.reasoning;

import io.boundless.proto.router.v1.ChatMessage;
import io.boundless.proto.router.v1.FinishReason;
import io.boundless.proto.router.v1.GenerateResponse;
import io.boundless.proto.router.v1.Sampling;
import io.boundless.proto.router.v1.Token;
import io.boundless.proto.router.v1.Usage;
import io.boundless.router.Completion;
import io.boundless.router.CompletionSink;
import io.boundless.router.Gateway;
import io.boundless.router.TextRequest;
import io.grpc.Deadline;
import io.grpc.StatusRuntimeException;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The {@link Generator} of a reasoning request on the router: prompts through the tokenizer service, each
 * generation a Gateway request with n samples (admission, version stickiness, prefix-affinity routing,
 * failover and resumption as for any request). Every generation of one reasoning request carries the same
 * stickiness key, so a rollout's split sends all of them to one version.
 */
final class GatewayGenerator implements Generator {
    private final Gateway gw;
    private final String model;
    private final String requestId;
    private final String stickiness;
    private final Deadline deadline;
    private final String caller;
    private final AtomicInteger calls = new AtomicInteger();

    GatewayGenerator(Gateway gw, String model, String requestId, String stickiness, Deadline deadline, String caller) {
        this.gw = gw;
        this.caller = caller;
        this.model = model;
        this.requestId = requestId;
        this.stickiness = stickiness == null ? requestId : stickiness;
        this.deadline = deadline;
    }

    @Override
    public Prompt chat(List<ChatMessage> messages) {
        var r = gw.renderChat(messages, deadline);
        return new Prompt(r.getText(), r.getIdsList().stream().mapToInt(Integer::intValue).toArray());
    }

    @Override
    public Prompt extend(Prompt prompt, String more) {
        String text = prompt.text() + more;
        return new Prompt(text, gw.encode(text, deadline));
    }

    @Override
    public Run start(Prompt prompt, Sampling sampling, int n, Listener listener) {
        TextRequest req = TextRequest.ofIds(model, prompt.ids(), sampling, n, requestId + "." + calls.incrementAndGet()).withStickinessKey(stickiness)
                .withCaller(caller);
        StringBuilder[] texts = new StringBuilder[n];
        int[] counts = new int[n];
        double[] sums = new double[n];
        for (int i = 0; i < n; i++) {
            texts[i] = new StringBuilder();
        }
        AtomicInteger tokens = new AtomicInteger();
        Usage[] usage = new Usage[1];
        Completion c = gw.start(req, deadline, new CompletionSink() {
            @Override
            public void onChunk(GenerateResponse chunk) {
                if (chunk.hasUsage()) {
                    usage[0] = chunk.getUsage();
                    return;
                }
                int i = chunk.getIndex();
                texts[i].append(chunk.getText());
                for (Token t : chunk.getTokensList()) {
                    counts[i]++;
                    sums[i] += t.getLogprob();
                }
                tokens.addAndGet(chunk.getTokensCount());
                if (chunk.getFinishReason() != FinishReason.FINISH_REASON_UNSPECIFIED) {
                    listener.path(i, texts[i].toString(), counts[i], sums[i], chunk.getFinishReason());
                }
            }

            @Override
            public void onError(StatusRuntimeException error) {
                listener.failed(error);
            }

            @Override
            public void onCompleted() {
                listener.done(usage[0] == null ? Usage.getDefaultInstance() : usage[0]);
            }
        });
        return new Run() {
            @Override
            public void cancel() {
                c.cancel();
            }

            @Override
            public void stop() {
                c.stop();
            }

            @Override
            public int tokens() {
                return tokens.get();
            }
        };
    }
}
