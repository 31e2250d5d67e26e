package io.boundless.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.boundless.proto.router.v1.ListModelsRequest;
import io.boundless.proto.router.v1.RouterGrpc;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** A client command tells "no platform" apart from the router's own UNAVAILABLE. */
class NoServerTest {

    @Test
    void aRefusedConnectionIsNoPlatformWithHowToStartOne() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();  // free again once closed: nothing listens there
        }
        String target = "127.0.0.1:" + port;
        ManagedChannel ch = ManagedChannelBuilder.forTarget(target).usePlaintext().build();
        try {
            StatusRuntimeException e = catchThrowableOfType(StatusRuntimeException.class,
                    () -> RouterGrpc.newBlockingStub(ch).withDeadlineAfter(20, TimeUnit.SECONDS).listModels(ListModelsRequest.getDefaultInstance()));
            assertThat(Boundless.noServer(e)).as(e.toString()).isTrue();
            assertThat(Boundless.describe(e, target)).isEqualTo("no Boundless router answers at " + target
                    + ": start one with bin/boundless up (or set BOUNDLESS_ROUTER to where one runs)");
        } finally {
            ch.shutdownNow();
        }
    }

    @Test
    void theRoutersOwnUnavailableKeepsItsMessage() {
        StatusRuntimeException e = Status.UNAVAILABLE.withDescription("no inference replica of model 'm' is available").asRuntimeException();
        assertThat(Boundless.noServer(e)).isFalse();
        assertThat(Boundless.describe(e, "127.0.0.1:9100")).isEqualTo("UNAVAILABLE: no inference replica of model 'm' is available");
    }
}
