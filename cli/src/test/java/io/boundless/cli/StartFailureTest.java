package io.boundless.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The line that boundless up prints for a service that stopped while starting, from what it logged. */
class StartFailureTest {

    @Test
    void aServicesOwnCannotStartLineIsTheReason() {
        String log = """
                09:35:56.674 WARN  [io.qu.gr.ru.GrpcServerRecorder] Using legacy gRPC support with a separate HTTP server instance.
                09:35:57.751 INFO  [io.bo.en.ba.Backends] backend cpu
                09:35:57.752 ERROR [io.qu.ru.Application] Failed to start application
                09:35:57.975 ERROR [io.bo.in.InferenceLifecycle] cannot start: /m/config.json: model_type gemma is not supported (llama, mistral, qwen2, gpt2)
                09:35:59.742 INFO  [io.quarkus] boundless-inference stopped in 0.101s
                """;
        assertThat(StartFailure.reason(log)).isEqualTo("/m/config.json: model_type gemma is not supported (llama, mistral, qwen2, gpt2)");
    }

    @Test
    void otherwiseTheFirstErrorLineThenTheJvmsOwn() {
        String portInUse = """
                09:35:57.651 ERROR [io.qu.ru.Application] Port 9102 seems to be in use by another process.
                	at io.quarkus.Something.run(Something.java:1)
                09:35:57.669 ERROR [io.qu.ru.Application] Failed to start application
                """;
        assertThat(StartFailure.reason(portInUse)).isEqualTo("Port 9102 seems to be in use by another process.");
        assertThat(StartFailure.reason("Error: Unable to access jarfile /x/quarkus-run.jar\n")).isEqualTo("Error: Unable to access jarfile /x/quarkus-run.jar");
        assertThat(StartFailure.reason("09:35:57.751 INFO  [io.bo.en.ba.Backends] backend cpu\n")).isNull();
        assertThat(StartFailure.reason("")).isNull();
    }
}
