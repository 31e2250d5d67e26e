package io.boundless.router;

import io.boundless.proto.router.v1.ChatMessage;
import io.boundless.proto.router.v1.Sampling;
import java.util.List;

/**
 * One text request, whatever API it came through: a prompt as text, as token ids, or as chat
 * messages (exactly one of them set), how to sample, and how many samples. chatTemplate, for chat
 * messages only, replaces the model's template (null: the model's own). stickinessKey (the session
 * header's value, or the OpenAI user field; null: none) keeps a user on one model version during a rollout. caller is
 * the API key's name the request counts against (null: anonymous); batch is its scheduling class (false: interactive).
 */
public record TextRequest(String model, String text, int[] ids, List<ChatMessage> messages, String chatTemplate, Sampling sampling, int n,
        String requestId, String stickinessKey, List<io.boundless.proto.router.v1.Tool> tools, String caller, boolean batch) {

    public static TextRequest ofText(String model, String text, Sampling s, int n, String id) {
        return new TextRequest(model, text, null, null, null, s, n, id, null, List.of(), null, false);
    }

    public static TextRequest ofIds(String model, int[] ids, Sampling s, int n, String id) {
        return new TextRequest(model, null, ids, null, null, s, n, id, null, List.of(), null, false);
    }

    /** A chat request; an empty or null chatTemplate means the model's own. */
    public static TextRequest ofChat(String model, List<ChatMessage> messages, String chatTemplate, Sampling s, int n, String id) {
        return new TextRequest(model, null, null, messages, chatTemplate == null || chatTemplate.isEmpty() ? null : chatTemplate, s, n, id, null, List.of(), null, false);
    }

    public TextRequest withStickinessKey(String key) {
        return new TextRequest(model, text, ids, messages, chatTemplate, sampling, n, requestId, key == null || key.isEmpty() ? null : key, tools, caller, batch);
    }

    /** A chat request with tools the template renders (OpenAI's tools). */
    public TextRequest withTools(List<io.boundless.proto.router.v1.Tool> t) {
        return new TextRequest(model, text, ids, messages, chatTemplate, sampling, n, requestId, stickinessKey, List.copyOf(t), caller, batch);
    }

    /** The request on behalf of caller (an API key's name), whose quotas it counts against. */
    public TextRequest withCaller(String c) {
        return new TextRequest(model, text, ids, messages, chatTemplate, sampling, n, requestId, stickinessKey, tools, c, batch);
    }

    /** The request in the batch class (true) or the interactive one: batch may hold only part of the capacity and runs after interactive. */
    public TextRequest withBatch(boolean b) {
        return new TextRequest(model, text, ids, messages, chatTemplate, sampling, n, requestId, stickinessKey, tools, caller, b);
    }
}
