package io.boundless.router.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.boundless.router.endpoints.Replica;
import io.boundless.router.endpoints.ReplicaPool;
import io.boundless.router.fake.FakeReplica;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** EndpointSlice changes reach the router's replica set: ready joins, terminating drains (streams go on), gone leaves. */
@EnableKubernetesMockClient(crud = true)
class EndpointSliceDiscoveryTest {
    static KubernetesClient client;

    static EndpointSlice slice(int port, Boolean ready, Boolean serving, Boolean terminating) {
        return new EndpointSliceBuilder().withNewMetadata().withName("chat-v1-gh200-abcde").withNamespace("boundless")
                .withLabels(Map.of("kubernetes.io/service-name", "chat-v1-gh200")).endMetadata()
                .withAddressType("IPv4")
                .addNewPort().withName("grpc").withPort(port).withProtocol("TCP").endPort()
                .addNewEndpoint().withAddresses("127.0.0.1").withNewConditions().withReady(ready).withServing(serving).withTerminating(terminating)
                .endConditions().endEndpoint().build();
    }

    @Test
    void readyJoinsTerminatingDrainsWithItsStreamsAndGoneLeaves() throws Exception {
        Server server = ServerBuilder.forPort(0).addService(new FakeReplica("r0")).build().start();
        ReplicaPool pool = new ReplicaPool(List.of(), Duration.ofMillis(100), Duration.ofMillis(300), Duration.ofSeconds(1), 2);
        pool.start();
        client.services().inNamespace("boundless").resource(new ServiceBuilder().withNewMetadata().withName("chat-v1-gh200").withNamespace("boundless")
                .withLabels(Map.of(KubernetesSettings.DEPLOYMENT, "chat", KubernetesSettings.VERSION, "v1", KubernetesSettings.POOL, "gh200",
                        KubernetesSettings.CAPACITY, "2.0")).endMetadata().withNewSpec().withClusterIP("None").endSpec().build()).create();
        try (var discovery = new EndpointSliceDiscovery(client, "boundless", "chat", pool).start()) {
            var slices = client.discovery().v1().endpointSlices().inNamespace("boundless");
            slices.resource(slice(server.getPort(), true, true, false)).create();
            await().atMost(Duration.ofSeconds(10)).until(() -> pool.admitted("v1").size() == 1);
            Replica r = pool.all().getFirst();
            assertThat(r.address()).isEqualTo("127.0.0.1:" + server.getPort());
            assertThat(r.pool()).isEqualTo("gh200");
            assertThat(r.capacity()).isEqualTo(2.0);

            // a stream is running on it when its Pod is deleted: the endpoint turns terminating (serving while it drains)
            r.acquire();
            slices.withName("chat-v1-gh200-abcde").edit(x -> slice(server.getPort(), false, true, true));
            await().atMost(Duration.ofSeconds(10)).until(() -> r.state() == Replica.State.DRAINING);
            assertThat(pool.admitted()).as("no new requests").isEmpty();
            assertThat(pool.all()).as("its streams go on").containsExactly(r);
            assertThat(r.channel().isShutdown()).isFalse();
            r.release();

            // gone: it leaves the pool
            slices.withName("chat-v1-gh200-abcde").delete();
            await().atMost(Duration.ofSeconds(10)).until(() -> pool.all().isEmpty());
            assertThat(r.channel().isShutdown()).isTrue();

            // a new endpoint that is not ready yet joins only when ready; one that stops being ready (not terminating) is held, then back
            slices.resource(slice(server.getPort(), false, false, false)).create();
            await().during(Duration.ofMillis(500)).atMost(Duration.ofSeconds(2)).until(() -> pool.all().isEmpty());
            slices.withName("chat-v1-gh200-abcde").edit(x -> slice(server.getPort(), true, true, false));
            await().atMost(Duration.ofSeconds(10)).until(() -> pool.admitted("v1").size() == 1);
            Replica again = pool.all().getFirst();
            slices.withName("chat-v1-gh200-abcde").edit(x -> slice(server.getPort(), false, false, false));
            await().atMost(Duration.ofSeconds(10)).until(() -> again.state() == Replica.State.DRAINING);
            slices.withName("chat-v1-gh200-abcde").edit(x -> slice(server.getPort(), true, true, false));
            await().atMost(Duration.ofSeconds(10)).until(() -> pool.admitted("v1").size() == 1);
            assertThat(discovery.services()).containsExactly("chat-v1-gh200");
        } finally {
            pool.close();
            server.shutdownNow();
        }
    }
}
