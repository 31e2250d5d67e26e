package io.boundless.router.reasoning;

import io.boundless.proto.router.v1.ChatMessage;
import io.boundless.proto.router.v1.FinishReason;
import io.boundless.proto.router.v1.Sampling;
import io.boundless.proto.router.v1.Usage;
import io.grpc.StatusRuntimeException;
import java.util.List;

/**
 * What a {@link Reasoner} needs of the platform: prompts rendered and encoded by the model's tokenizer, and
 * generations of n samples of one prompt (which share its KV blocks on one replica). The router's adapter
 * ({@link GatewayGenerator}) runs them through the Gateway like any other request; tests give fixed paths.
 */
public interface Generator {
    /** A prompt: its text (the rendered chat, special tokens written out) and its token ids. */
    record Prompt(String text, int[] ids) {}

    /** The conversation rendered with the model's chat template, ready for the assistant's turn. Blocks; errors are gRPC statuses. */
    Prompt chat(List<ChatMessage> messages);

    /** The prompt with more text appended after it (the assistant's own words so far). Blocks. */
    Prompt extend(Prompt prompt, String more);

    /** Starts n samples of the prompt; the listener hears each sample's end, then done (or failed). Returns at once. */
    Run start(Prompt prompt, Sampling sampling, int n, Listener listener);

    /** A running generation. */
    interface Run {
        /** The client went away: stops every sample still running (frees their KV blocks). */
        void cancel();

        /** The strategy needs no more samples (its vote is settled): stops them as cancel does, counted apart from a client's cancel. */
        void stop();

        /** Tokens received so far, finished samples and unfinished ones. */
        int tokens();
    }

    /** What a generation reports; calls may come from any thread, one at a time. */
    interface Listener {
        /** Sample index ended with this text, its token count and the sum of its tokens' log-probabilities. */
        void path(int index, String text, int tokens, double logprobSum, FinishReason finish);

        /** Every sample ended; the generation's token counts. */
        void done(Usage usage);

        /** The generation failed (what the client would have been told). */
        void failed(StatusRuntimeException error);
    }
}
