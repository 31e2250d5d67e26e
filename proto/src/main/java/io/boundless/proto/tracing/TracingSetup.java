package io.boundless.proto.tracing;

import io.opentelemetry.api.OpenTelemetry;
import io.quarkus.runtime.Startup;
import jakarta.annotation.PostConstruct;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;

/** Hands the service's OpenTelemetry (Quarkus' bean; a no-op one with the SDK off) to {@link TracingInterceptor} at start. */
@Startup
@Singleton
public class TracingSetup {
    @Inject
    OpenTelemetry openTelemetry;

    @PostConstruct
    void start() {
        TracingInterceptor.use(openTelemetry);
    }
}
