package io.boundless.router.openai;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.boundless.fuzz.Findings;
import io.boundless.router.Gateway;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.charset.StandardCharsets;

/**
 * An OpenAI request body for /v1/completions (first byte even) or /v1/chat/completions (odd), read as the HTTP route
 * reads it — JSON, sampling, messages, tools, response_format and guided decoding, server-side reasoning — and its
 * constraint compiled as the gateway checks it before routing. Bad bodies are INVALID_ARGUMENT (HTTP 400) only.
 */
public final class OpenAiBodyFuzz {
    private static final ObjectMapper JSON = new ObjectMapper();

    public static void fuzzerTestOneInput(byte[] data) {
        if (data.length == 0) {
            return;
        }
        boolean chat = (data[0] & 1) == 1;
        String raw = new String(data, 1, data.length - 1, StandardCharsets.UTF_8);
        try {
            JsonNode body = OpenAiRoutes.parseBody(JSON, raw);
            String model = body.path("model").asText("m");
            if (chat && body.hasNonNull(ReasoningApi.FIELD)) {
                ReasoningApi.request(body, model, OpenAiRoutes.messages(body), OpenAiRoutes.sampling(body, true));
                return;
            }
            var p = OpenAiRoutes.read(body, model, chat, body.path("stream").asBoolean(false));
            Gateway.checkConstraint(p.sampling());
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() != Status.Code.INVALID_ARGUMENT) {
                throw new AssertionError("a bad body is INVALID_ARGUMENT, not " + e.getStatus(), e);
            }
            Findings.allow(e, StatusRuntimeException.class);
        }
    }
}
