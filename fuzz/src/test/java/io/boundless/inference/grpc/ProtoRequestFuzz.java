package io.boundless.inference.grpc;

import com.google.protobuf.InvalidProtocolBufferException;
import io.boundless.proto.inference.v1.GenerateRequest;

/**
 * An inference GenerateRequest off the wire (protobuf bytes), through the service's validation of its sampling
 * parameters (ranges, stops, constraint) into the engine's SamplingParams. In this package to reach that check.
 */
public final class ProtoRequestFuzz {
    public static void fuzzerTestOneInput(byte[] data) {
        GenerateRequest req;
        try {
            req = GenerateRequest.parseFrom(data);
        } catch (InvalidProtocolBufferException e) {
            return;  // protobuf's own refusal
        }
        try {
            InferenceGrpcService.toParams(req.getSampling());
        } catch (IllegalArgumentException e) {
            io.boundless.fuzz.Findings.allow(e, IllegalArgumentException.class);
        }
        try {
            io.boundless.router.Gateway.checkConstraint(io.boundless.proto.router.v1.GenerateRequest.parseFrom(data).getSampling());
        } catch (InvalidProtocolBufferException e) {
            return;
        } catch (io.grpc.StatusRuntimeException e) {
            if (e.getStatus().getCode() != io.grpc.Status.Code.INVALID_ARGUMENT) {
                throw e;
            }
            io.boundless.fuzz.Findings.allow(e, io.grpc.StatusRuntimeException.class);
        }
    }
}
