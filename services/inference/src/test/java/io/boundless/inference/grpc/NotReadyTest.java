package io.boundless.inference.grpc;

import static org.assertj.core.api.Assertions.assertThat;

import io.boundless.engine.model.Architecture;
import io.boundless.engine.model.LoadedModel;
import io.boundless.engine.model.ModelConfig;
import io.boundless.engine.model.ModelWriter;
import io.boundless.engine.sched.Engine;
import io.boundless.engine.sched.EngineConfig;
import io.boundless.engine.tensor.DType;
import io.boundless.inference.InferenceLifecycle;
import io.boundless.proto.inference.v1.GenerateRequest;
import io.boundless.proto.inference.v1.GetLoadRequest;
import io.boundless.proto.inference.v1.GetModelInfoRequest;
import io.boundless.proto.inference.v1.ScoreRequest;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Between the engine's start and the end of its warm-up generation the model is loaded but the replica is not ready:
 * every RPC, GetLoad (the router's health check) included, is UNAVAILABLE, so no router sends it traffic yet.
 */
class NotReadyTest {

    static Status call(Consumer<StreamObserver<Object>> rpc) throws Exception {
        CompletableFuture<Status> out = new CompletableFuture<>();
        rpc.accept(new io.grpc.stub.ServerCallStreamObserver<Object>() {
            public boolean isCancelled() {
                return false;
            }

            public void setOnCancelHandler(Runnable r) {}

            public void setCompression(String c) {}

            public boolean isReady() {
                return true;
            }

            public void setOnReadyHandler(Runnable r) {}

            public void request(int n) {}

            public void setMessageCompression(boolean e) {}

            public void disableAutoInboundFlowControl() {}

            public void onNext(Object v) {}

            public void onError(Throwable t) {
                out.complete(Status.fromThrowable(t));
            }

            public void onCompleted() {
                out.complete(Status.OK);
            }
        });
        return out.get(30, TimeUnit.SECONDS);
    }

    @Test
    @SuppressWarnings({"unchecked", "rawtypes"})
    void everyRpcIsUnavailableUntilTheWarmUpRan(@TempDir Path dir) throws Exception {
        ModelConfig c = new ModelConfig(Architecture.LLAMA, 64, 32, 64, 1, 2, 1, 16, 1e-5f, 10000, null, 128, true, false, 0, 1, List.of(2));
        ModelWriter.writeHuggingFace(dir, c, ModelWriter.randomWeights(c, 1), DType.F32);
        InferenceLifecycle lifecycle = new InferenceLifecycle();
        InferenceGrpcService service = new InferenceGrpcService();
        service.lifecycle = lifecycle;
        try (LoadedModel m = LoadedModel.open(dir); Engine engine = new Engine(m.weights(), new EngineConfig(16, 1 << 20, 64, 4, 4, 1))) {
            engine.start();
            var engineField = InferenceLifecycle.class.getDeclaredField("engine");
            engineField.setAccessible(true);
            engineField.set(lifecycle, engine); // loaded and started, not yet warmed up
            var modelField = InferenceLifecycle.class.getDeclaredField("model");
            modelField.setAccessible(true);
            modelField.set(lifecycle, m);
            var nameField = InferenceLifecycle.class.getDeclaredField("modelName");
            nameField.setAccessible(true);
            nameField.set(lifecycle, "tiny");

            GenerateRequest gen = GenerateRequest.newBuilder().addPromptIds(3).build();
            List<Consumer<StreamObserver<Object>>> rpcs = List.of(
                    o -> service.generate(gen, (StreamObserver) o),
                    o -> service.score(ScoreRequest.newBuilder().addPromptIds(3).addContinuationIds(4).build(), (StreamObserver) o),
                    o -> service.getModelInfo(GetModelInfoRequest.getDefaultInstance(), (StreamObserver) o),
                    o -> service.getLoad(GetLoadRequest.getDefaultInstance(), (StreamObserver) o));
            for (var rpc : rpcs) {
                Status s = call(rpc);
                assertThat(s.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
                assertThat(s.getDescription()).isEqualTo("the model is not loaded and warmed up yet");
            }
            var readyField = InferenceLifecycle.class.getDeclaredField("ready");
            readyField.setAccessible(true);
            readyField.set(lifecycle, true);
            assertThat(call(rpcs.get(2)).getCode()).as("ready: GetModelInfo answers").isEqualTo(Status.Code.OK);
        }
    }
}
